"""The classic encoders through the CLI: `jointspace index --encoder NAME`, search, and the evaluate commands."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

from jointspace.cli import app
from jointspace.evaluate.datasets import wordnet_synsets

runner = CliRunner()


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory):
    """About 600 real WordNet synsets as JSONL records, plus one bad record (empty text)."""
    path = tmp_path_factory.mktemp("data") / "glosses.jsonl"
    synsets = [s for s in wordnet_synsets("n") if s.examples][::15][:600]
    with open(path, "w") as fh:
        for s in synsets:
            fh.write(json.dumps({"id": s.id, "text": f"{s.word}: {s.definition}. {s.examples}"}) + "\n")
        fh.write(json.dumps({"id": "blank", "text": "   "}) + "\n")
    return path, synsets


@pytest.mark.parametrize("name, params", [
    ("bow", []), ("tfidf", []), ("lsa", ["-p", "dim=40"]), ("lda", ["-p", "n_topics=8", "-p", "passes=3"]),
    ("word2vec", ["-p", "dim=24", "-p", "workers=1"]), ("spacy-vectors", []), ("theme", []),
])
def test_index_and_search_each_encoder(name: str, params: list[str], records, tmp_path) -> None:
    path, synsets = records
    out = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(app, ["index", str(path), "--out", str(out), "--encoder", name, *params])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert f"{len(synsets)} added" in said and "1 skipped" in said
    saved = json.loads((out / "encoder" / "encoder.json").read_text())
    assert saved["name"] == name
    # query time: a fresh process state would load the fitted encoder from the collection folder
    target = synsets[7]
    result = runner.invoke(app, ["search", str(out), f"{target.word} {target.definition}", "-k", "10", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 10
    if name not in ("theme", "lda"):  # theme scores stress words only; lda topics on 600 glosses are coarse
        assert target.id in [h["id"] for h in hits]


def test_index_with_unknown_param_fails_clearly(records, tmp_path) -> None:
    path, _ = records
    result = runner.invoke(app, ["index", str(path), "--out", str(tmp_path / "x"), "--encoder", "lsa", "-p", "dims"])
    assert result.exit_code != 0 and "KEY=VALUE" in result.output


def test_evaluate_rt_plots_json() -> None:
    result = runner.invoke(app, ["evaluate", "retrieval", "--dataset", "rt-plots", "--encoder", "tfidf",
                                 "--size", "200", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["queries"] == 200 and metrics["fit_on"] == "indexed"
    assert 0.05 < metrics["mrr"] <= 1 and metrics["recall@10"] >= metrics["recall@1"]


def test_evaluate_word_similarity_json() -> None:
    result = runner.invoke(app, ["evaluate", "word-similarity", "--dataset", "simlex999",
                                 "--encoder", "spacy-vectors", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["pairs"] == 999 and metrics["covered"] > 0.9
    assert 0.2 < metrics["spearman"] < 1


def test_evaluate_unknown_dataset() -> None:
    result = runner.invoke(app, ["evaluate", "word-similarity", "--dataset", "nope", "--encoder", "theme"])
    assert result.exit_code != 0 and "unknown dataset" in result.output
