"""One CLI grammar: the same option for the same thing everywhere, and commands that say what they did."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from jointspace.cli import app

runner = CliRunner()
ROWS = [{"id": f"r{i}", "title": t, "body": b, "label": lab, "year": 2000 + i}
        for i, (t, b, lab) in enumerate([("opening hours", "when do you open on sunday", "hours"),
                                         ("closing time", "what time do you close tonight", "hours"),
                                         ("shipping price", "how much does delivery cost", "price"),
                                         ("free delivery", "is shipping free over ten pounds", "price")] * 20)]


def write(tmp_path: Path) -> Path:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return data


def test_text_fields_repeat_or_take_commas_and_encoder_mismatch_is_an_error(tmp_path: Path) -> None:
    data = write(tmp_path)
    res = runner.invoke(app, ["index", str(data), "--out", str(tmp_path / "c"), "--text", "title,body",
                              "--encoder", "tfidf", "-p", "dim=256"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["search", str(tmp_path / "c"), "delivery cost", "--json", "-k", "1"])
    assert json.loads(res.stdout)[0]["fields"]["label"] == "price"
    res = runner.invoke(app, ["index", str(data), "--out", str(tmp_path / "c"), "--encoder", "bow"])
    assert res.exit_code == 1 and "holds encoder 'tfidf', not 'bow'" in res.output
    res = runner.invoke(app, ["index", str(data), "--out", str(tmp_path / "c"), "--text", "title,body"])
    assert res.exit_code == 0 and "already stored" in " ".join(res.output.split())
    info = runner.invoke(app, ["info", str(tmp_path / "c")])
    assert info.exit_code == 0 and "metadata fields" in info.output and "year" in info.output
    assert "number: 80" in info.output


def test_predict_takes_a_file_or_a_text_and_says_which(tmp_path: Path) -> None:
    data = write(tmp_path)
    res = runner.invoke(app, ["nearest", "train", str(data), "--text", "body", "--label", "label", "--out",
                              str(tmp_path / "near"), "--encoder", "tfidf", "-p", "dim=256"])
    assert res.exit_code == 0, res.output
    csv = tmp_path / "messages.csv"
    csv.write_text("id,body\n" + "\n".join(f"m{i},is delivery free {i}" for i in range(60)) + "\n")
    res = runner.invoke(app, ["nearest", "predict", str(tmp_path / "near"), str(csv), "--text", "body"])
    assert res.exit_code == 0, res.output
    assert "labelling the 60 messages of" in res.output and "50 of 60 shown; --json for all" in res.output
    assert "m0" in res.output  # the table shows ids and text
    res = runner.invoke(app, ["nearest", "predict", str(tmp_path / "near"), "when do you open"])
    assert res.exit_code == 0 and "one message given on the command line" in res.output
