"""Sharded collections: N shards searched in parallel give the exact top-k of one collection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jointspace import Collection, FormatError
from jointspace.cli import app
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.stores.sharded import shard_of


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [{"id": s.id, "text": s.definition, "word": s.word, "n": i % 7}
            for i, s in enumerate(wordnet_sample(400, seed=11))]


def same_top_k(a: list, b: list) -> bool:
    """Equal scores rank by rank; equal ids except where a score ties the last one kept."""
    if not np.allclose([h.score for h in a], [h.score for h in b], atol=1e-5):
        return False
    last = a[-1].score if a else 0.0
    return {h.id for h in a if h.score > last + 1e-5} == {h.id for h in b if h.score > last + 1e-5}


def test_sharded_search_equals_single_collection(records: list[dict], tmp_path: Path) -> None:
    single = Collection.create(tmp_path / "one", encoder="tfidf")
    single.add(records)
    sharded = Collection.create(tmp_path / "many", shards=3, encoder="tfidf")
    report = sharded.add(records + [{"id": "bad", "text": ""}])
    assert (report.added, len(report.skipped)) == (len(records), 1)
    assert len(sharded) == len(records) and all(len(s) > 60 for s in sharded.store.shards)
    # one encoder, fitted once on everything: its committed state lives in shard 0 and reopens fitted
    reopened = Collection.open(tmp_path / "many")
    assert reopened.encoder.is_fitted and reopened.search(records[3]["text"], k=1)[0].id == records[3]["id"]
    reopened.close()
    queries = [r["text"] for r in records[:25]] + ["a small domestic animal", "a piece of music"]
    for where in (None, "n >= 3", {"n": {"$in": [1, 2]}}):
        ours = sharded.search_batch(queries, k=10, where=where)
        theirs = single.search_batch(queries, k=10, where=where)
        assert all(same_top_k(a, b) for a, b in zip(ours, theirs, strict=True)), where
    assert sharded.search(records[3]["text"], k=1)[0].id == records[3]["id"]


def test_sharded_writes_and_reopen(records: list[dict], tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "s", shards=4, encoder="tfidf")
    col.add(records[:100])
    one = records[0]["id"]
    assert one in col and col.get(one)["word"] == records[0]["word"]
    assert col.store.shards[shard_of(one, 4)].get([one])[one]["word"] == records[0]["word"]
    rep = col.upsert([{**records[0], "word": "changed"}, records[150]])
    assert (rep.added, rep.updated) == (1, 1)
    rep = col.delete([records[1]["id"], "nope"])
    assert rep.deleted == 1 and len(rep.skipped) == 1
    col.close()
    again = Collection.open(tmp_path / "s")
    assert again.backend == "sharded"
    assert len(again) == 100 and again.get(one)["word"] == "changed" and records[1]["id"] not in again
    assert sorted(again.ids()) == sorted(i for b in again.iter_items() for i in b[0])
    assert again.info()["shards"] == 4 and sum(again.info()["shard_counts"]) == 100
    again.close()
    (tmp_path / "s" / "shards.json").write_text(json.dumps({"format": 7, "shards": 4}))
    with pytest.raises(FormatError, match="sharded format 7"):
        Collection.open(tmp_path / "s")


def test_cli_sharded_index_and_migrate(records: list[dict], tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records[:80]))
    runner = CliRunner()
    res = runner.invoke(app, ["index", str(data), "--out", str(tmp_path / "c"), "--encoder", "tfidf",
                              "--shards", "2"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["search", str(tmp_path / "c"), records[9]["text"], "--json", "-k", "2"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["id"] == records[9]["id"]
    res = runner.invoke(app, ["migrate", str(tmp_path / "c"), str(tmp_path / "flat")])
    assert res.exit_code == 0, res.output
    flat = Collection.open(tmp_path / "flat")
    assert flat.backend == "embedded" and len(flat) == 80
    assert flat.search(records[9]["text"], k=1)[0].id == records[9]["id"]
