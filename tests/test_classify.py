"""Classifiers on embeddings, on a small real sample of the SMS Spam Collection (and Rotten Tomatoes)."""

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
from jointspace.evaluate.sms_data import rotten_tomatoes, sms_spam
from jointspace.tasks.classify import ClassifierConfig, ClassifierModel, cross_validate, train
from jointspace.tasks.report import choose_threshold

os.environ.setdefault("HF_HUB_OFFLINE", "1")
runner = CliRunner()
SMALL_TFIDF = ["--encoder", "tfidf", "--encoder-param", "dim=1024", "--encoder-param", "stop_words=null"]


@pytest.fixture(scope="module")
def sms() -> pd.DataFrame:
    """400 training and 100 held-out messages (stratified, 20% spam), with metadata and a category."""
    df = sms_spam()
    spam, ham = df[df.label == "spam"].sample(100, random_state=0), df[df.label == "ham"].sample(400, random_state=0)
    out = pd.concat([spam, ham]).sample(frac=1.0, random_state=1).reset_index(drop=True)
    out["channel"] = np.where(out["has_url"] == 1, "web", "sms")
    return out


@pytest.fixture(scope="module")
def files(sms: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sms")
    train_rows, test_rows = sms.iloc[:400].copy(), sms.iloc[400:].copy()
    train_rows.loc[train_rows.index[3], "text"] = None  # a row with missing text: skipped, reported
    train_rows.loc[train_rows.index[5], "length"] = None  # a missing metadata value: imputed
    paths = {"train": root / "train.csv", "test": root / "test.csv", "root": root}
    train_rows.to_csv(paths["train"], index=False)
    test_rows.to_csv(paths["test"], index=False)
    return paths


@pytest.fixture(scope="module")
def trained(files: dict[str, Path]) -> Path:
    out = files["root"] / "model"
    result = runner.invoke(app, ["classify", "train", str(files["train"]), "--text", "text", "--label", "label",
                                 "--meta", "length", "--meta", "digits", "--meta", "channel", *SMALL_TFIDF,
                                 "--model", "logreg", "--folds", "3", "--target-precision", "0.95",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_versioned_model_with_report_and_curves(trained: Path) -> None:
    manifest = json.loads((trained / "model.json").read_text())
    assert manifest["format"] == 1 and manifest["classes"] == ["ham", "spam"] and manifest["positive"] == "spam"
    assert manifest["numeric"] == ["length", "digits"] and manifest["categorical"] == ["channel"]
    assert manifest["rows"] == 399 and any("missing text" in s for s in manifest["skipped"])
    assert manifest["cv"]["mcc"] > 0.7 and manifest["cv"]["roc_auc"] > 0.9
    info = manifest["threshold_info"]
    assert info["target"] == "precision" and 0 < manifest["threshold"] < 1
    for png in ("roc.png", "pr.png", "confusion.png"):
        assert (trained / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((trained / "report.json").read_text())
    assert len(report["per_fold"]) == 3 and np.sum(report["pooled_confusion"]) == 399
    assert not list(trained.parent.glob(".model.partial-*"))


def test_predict_json_in_input_order_with_neighbours(trained: Path, files: dict[str, Path],
                                                     sms: pd.DataFrame) -> None:
    result = runner.invoke(app, ["classify", "predict", str(trained), str(files["test"]), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    truth = list(sms.iloc[400:]["label"])
    assert len(rows) == len(truth) == 100
    assert {"label", "probability", "neighbours"} <= set(rows[0])
    assert all(len(r["neighbours"]) == 3 and 0 <= r["probability"] <= 1 for r in rows)
    assert np.mean([r["label"] == t for r, t in zip(rows, truth, strict=True)]) > 0.9
    spam_rows = [r for r, t in zip(rows, truth, strict=True) if t == "spam" and r["label"] == "spam"]
    assert spam_rows and np.mean([n["label"] == "spam" for r in spam_rows for n in r["neighbours"]]) > 0.6


def test_missing_text_at_predict_is_reported_in_place(trained: Path, files: dict[str, Path]) -> None:
    rows = pd.read_csv(files["test"]).head(4)
    rows.loc[1, "text"] = None
    rows.loc[2, "digits"] = None
    model = ClassifierModel(trained)
    results, skipped = model.predict(rows)
    assert results[1]["label"] is None and "missing text" in results[1]["error"]
    assert results[2]["label"] in ("ham", "spam") and len(skipped) == 1


def test_metadata_column_missing_at_predict_is_an_error(trained: Path, files: dict[str, Path]) -> None:
    rows = pd.read_csv(files["test"]).drop(columns=["digits"])
    with pytest.raises(JointspaceError, match="'digits'"):
        ClassifierModel(trained).predict(rows)


def test_unknown_labels_when_scoring_are_named(trained: Path, files: dict[str, Path]) -> None:
    rows = pd.read_csv(files["test"]).head(10)
    rows.loc[0, "label"] = "phishing"
    with pytest.raises(JointspaceError, match="phishing"):
        ClassifierModel(trained).score(rows, "label")
    metrics = ClassifierModel(trained).score(pd.read_csv(files["test"]), "label")
    assert metrics["mcc"] > 0.6


def test_model_from_another_version_is_refused(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(trained, copy)
    manifest = json.loads((copy / "model.json").read_text())
    manifest["format"] = 99
    (copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="format 99"):
        ClassifierModel(copy)
    result = runner.invoke(app, ["classify", "predict", str(copy), "x.csv"])
    assert result.exit_code == 1 and "format 99" in result.output


def test_one_class_only_fails_clearly_and_writes_nothing(files: dict[str, Path], tmp_path: Path) -> None:
    rows = pd.read_csv(files["train"])
    rows = rows[rows.label == "ham"].head(50)
    path = tmp_path / "one.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "m"
    result = runner.invoke(app, ["classify", "train", str(path), *SMALL_TFIDF, "--out", str(out)])
    assert result.exit_code == 1 and "one class only" in result.output
    assert not out.exists() and not list(tmp_path.glob(".m.*"))


def test_threshold_meets_a_target_recall_on_validation(sms: pd.DataFrame) -> None:
    config = ClassifierConfig(encoder="tfidf", encoder_params={"dim": 1024, "stop_words": None}, model="svm",
                              folds=3, target_recall=0.95)
    cv = cross_validate(sms, list(sms["label"]), config)
    y = (cv.codes == cv.positive).astype(int)
    p = cv.proba[:, cv.positive]
    assert np.allclose(cv.proba.sum(axis=1), 1.0) and ((p >= 0) & (p <= 1)).all()
    t = cv.threshold
    assert t["reached"] and ((p >= t["threshold"]) & (y == 1)).sum() / y.sum() >= 0.95
    strict = choose_threshold(y, p, target_precision=0.99)
    assert strict["threshold"] >= t["threshold"]


def test_mlp_binary_and_multiclass(sms: pd.DataFrame, tmp_path: Path) -> None:
    config = ClassifierConfig(encoder="tfidf", encoder_params={"dim": 512, "stop_words": None}, model="mlp",
                              meta=["length", "digits", "has_phone"], folds=3)
    rows = sms.head(300)
    cv = cross_validate(rows, list(rows["label"]), config)
    assert cv.summary["mcc"] > 0.6 and cv.summary["roc_auc"] > 0.9
    rt = rotten_tomatoes(per_class=50, seed=0)
    manifest = train(rt, ClassifierConfig(encoder="tfidf", encoder_params={"dim": 512}, model="mlp", folds=3),
                     tmp_path / "rt")
    assert manifest["classes"] == ["fresh", "plot", "rotten"] and manifest["threshold"] is None
    assert manifest["cv"]["accuracy"] > 0.5  # chance is 1/3; plots are easy to tell from reviews
    results, _ = ClassifierModel(tmp_path / "rt").predict(rt.head(5))
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in results)


def test_map_of_a_collection(sms: pd.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "sms.jsonl"
    sms.head(300).assign(id=range(300)).to_json(data, orient="records", lines=True)
    result = runner.invoke(app, ["index", str(data), "--out", str(tmp_path / "col"), "--encoder", "tfidf"])
    assert result.exit_code == 0, result.output
    png = tmp_path / "map.png"
    result = runner.invoke(app, ["map", str(tmp_path / "col"), "--color-by", "label", "--out", str(png),
                                 "--clusters", "4", "--json"])
    assert result.exit_code == 0, result.output
    clusters = json.loads(result.stdout)["clusters"]
    from jointspace import Collection

    with Collection.open(tmp_path / "col") as col:  # every indexed item (texts with no known word are skipped)
        assert png.read_bytes()[:4] == b"\x89PNG" and sum(c["size"] for c in clusters) == len(col) >= 290
    assert all(c["top_terms"] for c in clusters if c["size"] > 5)
    result = runner.invoke(app, ["map", str(tmp_path / "col"), "--color-by", "colour", "--out", str(png)])
    assert result.exit_code == 1 and "colour" in result.output


def test_text_the_encoder_cannot_embed_gets_zero_text_features() -> None:
    """lsa rejects a text with no known word; as a classifier feature it becomes zeros, the batch goes on."""
    import numpy as np

    from jointspace.tasks.features import EncoderFeatures

    corpus = ["free prize call now", "win cash prize today", "see you at lunch", "meeting moved to noon",
              "call me when you are free", "lunch today at noon"]
    features = EncoderFeatures("lsa", {"dim": 3}).fit(corpus)
    out = features.transform(["win a free prize", "zzzz qqqq", "lunch at noon"])
    assert out.shape == (3, 3)
    assert np.allclose(out[1], 0) and not np.allclose(out[0], 0) and not np.allclose(out[2], 0)
