"""Nearest known examples with an open-set `unknown`, on real data: Rotten Tomatoes reviews as intents
(praise / criticism), out-of-scope messages from WordNet glosses and the SMS Spam Collection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jointspace.cli import app
from jointspace.errors import FormatError, JointspaceError
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.evaluate.sms_data import rotten_tomatoes, sms_spam
from jointspace.tasks.nearest import NearestModel, train_nearest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
runner = CliRunner()


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    rt = rotten_tomatoes(per_class=100, seed=0)
    return rt[rt.label != "plot"].reset_index(drop=True)


@pytest.fixture(scope="module")
def out_of_scope() -> dict[str, list[str]]:
    """Two disjoint sets of out-of-scope messages: one to calibrate with, one to test on."""
    glosses = [s.definition for s in wordnet_sample(24, seed=3)]
    sms = list(sms_spam(with_meta=False)["text"].iloc[:16])
    return {"calibrate": glosses[:12] + sms[:8], "test": glosses[12:] + sms[8:]}


@pytest.fixture(scope="module")
def trained(reviews: pd.DataFrame, out_of_scope: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory
            ) -> Path:
    root = tmp_path_factory.mktemp("nearest")
    reviews.iloc[::2].head(150).to_csv(root / "examples.csv", index=False)
    pd.DataFrame({"text": out_of_scope["calibrate"]}).to_csv(root / "outliers.csv", index=False)
    result = runner.invoke(app, ["nearest", "train", str(root / "examples.csv"), "--text", "text", "--label", "label",
                                 "--encoder", "minilm", "--outliers", str(root / "outliers.csv"),
                                 "--out", str(root / "model")])
    assert result.exit_code == 0, result.output
    return root / "model"


def test_out_of_scope_messages_are_unknown(trained: Path, reviews: pd.DataFrame,
                                           out_of_scope: dict[str, list[str]], tmp_path: Path) -> None:
    messages = out_of_scope["test"]
    pd.DataFrame({"body": messages}).to_csv(tmp_path / "m.csv", index=False)
    result = runner.invoke(app, ["nearest", "predict", str(trained), "--file", str(tmp_path / "m.csv"),
                                 "--text", "body", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == len(messages) and {"label", "score", "neighbours"} <= set(rows[0])
    assert np.mean([r["label"] == "unknown" for r in rows]) >= 0.8
    held_out = reviews.iloc[1::2].head(40)
    labelled = NearestModel(trained).predict(list(held_out["text"]))
    accepted = [r for r in labelled if r["label"] != "unknown"]
    assert len(accepted) >= 0.6 * len(labelled)
    truth = dict(zip(held_out["text"], held_out["label"], strict=True))
    hits = [r["label"] == truth[t] for r, t in zip(labelled, held_out["text"], strict=True) if r["label"] != "unknown"]
    assert np.mean(hits) > 0.6  # fresh vs rotten from 150 short reviews: well above chance


def test_single_message_and_empty_text(trained: Path) -> None:
    result = runner.invoke(app, ["nearest", "predict", str(trained), "A dazzling, moving triumph. Superb.", "--json"])
    row = json.loads(result.stdout)[0]
    assert row["label"] == "fresh" and len(row["neighbours"]) == 3
    assert row["neighbours"][0]["similarity"] >= row["neighbours"][2]["similarity"]
    rows = NearestModel(trained).predict(["", "a dull, lifeless mess"])
    assert rows[0]["label"] is None and "empty" in rows[0]["error"] and rows[1]["label"] == "rotten"


def test_adding_examples_needs_no_retraining(trained: Path, tmp_path: Path) -> None:
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(trained, model_dir)
    before = json.loads((model_dir / "nearest.json").read_text())
    question = "how do I reset my password for the account"
    assert NearestModel(model_dir).predict([question])[0]["label"] == "unknown"
    new = pd.DataFrame({"text": ["I forgot my password, how can I reset it", "how do I change the password of my "
                                 "account", "reset password link does not arrive", "cannot log in to my account"],
                        "label": "account-help"})
    new.to_csv(tmp_path / "new.csv", index=False)
    result = runner.invoke(app, ["nearest", "add", str(model_dir), str(tmp_path / "new.csv")])
    assert result.exit_code == 0 and "4 added" in " ".join(result.output.split()), result.output
    after = json.loads((model_dir / "nearest.json").read_text())
    assert after["threshold"] == before["threshold"] and after["examples"] == before["examples"] + 4
    assert "account-help" in after["labels"]
    assert NearestModel(model_dir).predict([question])[0]["label"] == "account-help"
    result = runner.invoke(app, ["nearest", "add", str(model_dir), str(tmp_path / "new.csv")])
    assert "4 skipped" in " ".join(result.output.split())  # the same examples again: nothing duplicated
    assert json.loads((model_dir / "nearest.json").read_text())["examples"] == after["examples"]


@pytest.mark.parametrize("space", ["nca", "fusion"])
def test_learned_and_fused_spaces(space: str, reviews: pd.DataFrame, tmp_path: Path) -> None:
    sms = sms_spam(with_meta=False)
    examples = pd.concat([sms[sms.label == "spam"].head(60), sms[sms.label == "ham"].head(140)])
    manifest = train_nearest(examples, tmp_path / space, encoder="tfidf", encoder_params={"dim": 1024},
                             space=space, n_components=16)
    assert manifest["calibration"]["held_out_accuracy"] > 0.8
    model = NearestModel(tmp_path / space)  # reopened from disk: the space encoder reloads its state
    dim = model.collection.encoder.dim
    assert dim == (16 if space == "nca" else 1024 + 2048)
    test = pd.concat([sms[sms.label == "spam"].iloc[60:80], sms[sms.label == "ham"].iloc[140:160]])
    rows = model.predict(list(test["text"]))
    known = [(r["label"], t) for r, t in zip(rows, test["label"], strict=True) if r["label"] != "unknown"]
    assert len(known) >= 20 and np.mean([p == t for p, t in known]) > 0.75


def test_bad_input(reviews: pd.DataFrame, trained: Path, tmp_path: Path) -> None:
    bad = reviews.head(20).copy()
    bad.loc[0, "label"] = "unknown"
    with pytest.raises(JointspaceError, match="reserved"):
        train_nearest(bad, tmp_path / "x", encoder="tfidf")
    with pytest.raises(JointspaceError, match="two labels"):
        one = reviews[reviews.label == "fresh"].head(20)
        train_nearest(one, tmp_path / "y", encoder="tfidf", space="nca")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    manifest = json.loads((trained / "nearest.json").read_text())
    copy = tmp_path / "old"
    import shutil

    shutil.copytree(trained, copy)
    (copy / "nearest.json").write_text(json.dumps({**manifest, "format": 7}))
    with pytest.raises(FormatError, match="format 7"):
        NearestModel(copy)
