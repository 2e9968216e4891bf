"""pandas in and out, and the Python API edges a sentence-transformers or scikit-learn user reaches for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jointspace import Collection, JointspaceError
from jointspace.cli import app

runner = CliRunner()
FRAME = pd.DataFrame({"id": ["q1", "q2", "q3", "q443"], "text": ["a red apple", "a green pear", "the blue sea",
                                                                 "a yellow banana"],
                      "year": np.array([2001, 1999, 2010, 2020], dtype=np.int64), "price": [1.5, np.nan, 3.0, 0.5],
                      "when": pd.to_datetime(["2020-01-02", "2021-03-04", None, "2022-05-06"])})


@pytest.fixture()
def col(tmp_path: Path) -> Collection:
    c = Collection.create(tmp_path / "c", encoder="tfidf")
    report = c.add(FRAME)
    assert report.added == 4 and not report.skipped
    return c


def test_dataframe_in_and_out(col: Collection, tmp_path: Path) -> None:
    assert col.get("q1")["year"] == 2001 and col.get("q1")["when"].startswith("2020-01-02")
    assert col.get("q2")["price"] is None and col.get("q3")["when"] is None
    hits = col.search("apple", k=2)
    frame = hits.to_pandas()
    assert list(frame.columns[:2]) == ["id", "score"] and frame.iloc[0]["id"] == "q1" and "year" in frame
    whole = col.to_pandas(columns=["text", "year"], vectors=True)
    assert list(whole.columns) == ["id", "text", "year", "vector"] and len(whole) == 4
    assert whole["vector"].iloc[0].shape == (col.encoder.dim,)
    n = col.export(tmp_path / "out.parquet")
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert n == 4 and sorted(back["id"]) == sorted(FRAME["id"]) and back.set_index("id").loc["q3", "year"] == 2010
    res = runner.invoke(app, ["export", str(col.path), str(tmp_path / "out.jsonl")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {r["id"] for r in lines} == set(FRAME["id"])


def test_one_id_or_many_and_a_sized_iterable_collection(col: Collection) -> None:
    assert len(col) == 4 and "q1" in col and col["q2"]["text"] == "a green pear"
    assert [r["id"] for r in col] == ["q1", "q2", "q3", "q443"]
    assert [r["id"] for r in col.get(["q3", "q1"])] == ["q3", "q1"]
    assert col.vectors("q1").shape == (1, col.encoder.dim) and col.vectors(["q1", "q2"]).shape[0] == 2
    assert col.delete("q443").deleted == 1 and "q443" not in col and len(col) == 3  # one id, not 4 characters
    assert col.delete(["q2", "nope"]).deleted == 1


def test_lists_and_arrays_as_queries(col: Collection) -> None:
    vector = col.vectors("q1")[0]
    assert col.search(vector.tolist(), k=1)[0].id == "q1"  # a Python list is a vector
    batch = np.stack([col.vectors("q1")[0], col.vectors("q3")[0]])
    with pytest.raises(JointspaceError, match="search_batch"):
        col.search(batch)  # never silently row 0
    assert [row[0].id for row in col.search_batch(batch, k=1)] == ["q1", "q3"]


def test_the_delete_command(col: Collection, tmp_path: Path) -> None:
    col.close()
    res = runner.invoke(app, ["delete", str(tmp_path / "c"), "q1", "nope"])
    assert res.exit_code == 0 and "1 deleted, 1 not found" in res.output, res.output
    (tmp_path / "ids.txt").write_text("q2\n")
    assert runner.invoke(app, ["delete", str(tmp_path / "c"), "--file", str(tmp_path / "ids.txt")]).exit_code == 0
    res = runner.invoke(app, ["delete", str(tmp_path / "c"), "--where", "year >= 2015", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["deleted"] == 1
    res = runner.invoke(app, ["delete", str(tmp_path / "c"), "--where", "yeer >= 1"])
    assert res.exit_code == 1 and "did you mean 'year'" in res.output
    with Collection.open(tmp_path / "c") as again:
        assert again.ids() == ["q3"]
