"""`jointspace evaluate ...` on the user's own files (issue 16, item 5): BEIR-style retrieval, classify, nearest,
recommend --interactions and doc-similarity --pairs, through the real CLI, on real WordNet / SMS / RT text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jointspace.cli import app
from jointspace.evaluate.datasets import wordnet_sample

os.environ.setdefault("HF_HUB_OFFLINE", "1")
runner = CliRunner()


def _json(result) -> object:  # noqa: ANN001
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_evaluate_command_lives_in_one_module() -> None:
    from jointspace.cli.app import evaluate_app

    names = {c.name: c.callback.__module__ for c in evaluate_app.registered_commands}
    assert {"retrieval", "word-similarity", "zero-shot", "alignment", "recommend", "doc-similarity", "classify",
            "nearest"} <= set(names)
    assert set(names.values()) == {"jointspace.cli.evaluate_commands"}


def test_beir_style_retrieval(tmp_path: Path) -> None:
    synsets = wordnet_sample(60, seed=4)
    with open(tmp_path / "corpus.jsonl", "w") as fh:
        for s in synsets:
            fh.write(json.dumps({"_id": s.id, "title": s.word, "text": s.definition}) + "\n")
    with open(tmp_path / "queries.jsonl", "w") as fh:
        for n, s in enumerate(synsets[:30]):
            fh.write(json.dumps({"_id": f"q{n}", "text": " ".join(s.definition.split()[1:]) or s.definition}) + "\n")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                        "".join(f"q{n}\t{s.id}\t1\n" for n, s in enumerate(synsets[:30])))
    args = ["evaluate", "retrieval", "--corpus", str(tmp_path / "corpus.jsonl"), "--queries",
            str(tmp_path / "queries.jsonl"), "--qrels", str(tmp_path / "qrels.tsv"), "--encoder", "tfidf", "--json"]
    metrics = _json(runner.invoke(app, args))
    assert metrics["queries"] == 30 and metrics["documents"] == 60
    assert metrics["recall@10"] >= 0.9 and 0.5 < metrics["ndcg@10"] <= 1.0 and metrics["mrr@10"] >= metrics["recall@1"]
    (tmp_path / "bad.tsv").write_text("q0\tno-such-doc\t1\n")
    bad = runner.invoke(app, args[:7] + [str(tmp_path / "bad.tsv"), "--encoder", "tfidf"])
    assert bad.exit_code != 0 and "no-such-doc" in bad.output
    half = runner.invoke(app, ["evaluate", "retrieval", "--corpus", str(tmp_path / "corpus.jsonl")])
    assert half.exit_code != 0 and "all three" in half.output


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jointspace.evaluate.sms_data import rotten_tomatoes

    path = tmp_path_factory.mktemp("own") / "reviews.csv"
    rotten_tomatoes(per_class=40, seed=3).to_csv(path, index=False)
    return path


def test_evaluate_classify_reports_the_baseline_beside(reviews: Path) -> None:
    report = _json(runner.invoke(app, ["evaluate", "classify", str(reviews), "--encoder", "tfidf", "--folds", "3",
                                       "--json"]))
    assert report["folds"] == 3 and 0.4 < report["mean"]["accuracy"] <= 1.0
    assert set(report["tfidf_linearsvc"]) == {"accuracy", "macro_f1"}


def test_evaluate_nearest_reports_in_scope_and_out_of_scope_apart(reviews: Path, tmp_path: Path) -> None:
    glosses = [s.definition for s in wordnet_sample(40, seed=8)]
    pd.DataFrame({"text": glosses}).to_csv(tmp_path / "out.csv", index=False)
    metrics = _json(runner.invoke(app, ["evaluate", "nearest", str(reviews), "--outliers", str(tmp_path / "out.csv"),
                                        "--encoder", "tfidf", "--param", "dim=2048", "--folds", "3", "--json"]))
    assert metrics["examples"] == 120 and 0.4 < metrics["accuracy"] <= 1.0
    assert 0.0 <= metrics["out_of_scope_rejected"] <= 1.0 and 0.0 < metrics["in_scope_accepted"] <= 1.0
    assert metrics["outliers"] == {"calibrate": 20, "test": 20} and "tfidf_linearsvc_accuracy" in metrics
    plain = _json(runner.invoke(app, ["evaluate", "nearest", str(reviews), "--encoder", "tfidf", "--space", "plain",
                                      "-k", "5", "--folds", "3", "--json"]))
    assert "out_of_scope_rejected" not in plain and {c["k"] for c in plain["chosen"]} == {5}


def test_evaluate_recommend_on_an_interactions_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        group = u % 2
        for i in rng.choice(12, size=6, replace=False):
            rows.append({"user": f"u{u}", "item": f"{'ab'[group]}{i}", "rating": int(rng.integers(1, 6))})
    pd.DataFrame(rows).to_csv(tmp_path / "inter.csv", index=False)
    pd.DataFrame([{"id": f"{g}{i}", "text": f"{'apple' if g == 'a' else 'boat'} number {i}"}
                  for g in "ab" for i in range(12)]).to_csv(tmp_path / "items.csv", index=False)
    results = _json(runner.invoke(app, ["evaluate", "recommend", "--interactions", str(tmp_path / "inter.csv"),
                                        "--items", str(tmp_path / "items.csv"), "--json"]))
    assert {"popular", "itemknn", "content", "als", "ease", "hybrid"} <= set(results)
    assert results["ease"]["ndcg@10"] > results["popular"]["ndcg@10"]  # two tastes: the item model sees them
    assert {"recall@10", "ndcg@10", "coverage@10", "cold_ndcg@10"} <= set(results["hybrid"])


def test_doc_similarity_cli_on_own_pairs(tmp_path: Path) -> None:
    glosses = [s.definition for s in wordnet_sample(60, seed=6)]
    rows = [{"a": g, "b": " ".join(g.split()[:-1]) or g, "human": 1.0} for g in glosses[:15]]
    rows += [{"a": g, "b": glosses[-1 - n], "human": 0.0} for n, g in enumerate(glosses[:15])]
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    out = _json(runner.invoke(app, ["evaluate", "doc-similarity", "--pairs", str(tmp_path / "pairs.csv"), "--text1",
                                    "a", "--text2", "b", "--score", "human", "--encoder", "tfidf", "--json"]))
    assert out[0]["encoder"] == "tfidf" and out[0]["pairs"] == 30 and out[0]["pearson"] > 0.8
