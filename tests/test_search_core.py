"""The search core through the Collection: hybrid search, quantised vectors, instant open, `check` and damage.

Real parts: real WordNet glosses, the default MiniLM encoder, SQLite FTS5, and child processes killed with
SIGKILL. Hybrid results are compared with a fusion computed here from brute-force dense ranks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jointspace import Collection, FormatError, JointspaceError
from jointspace.cli import app
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.fusion import rrf, weighted

runner = CliRunner()


@pytest.fixture(scope="module")
def glosses() -> list[dict]:
    return [{"id": s.id, "word": s.word, "text": f"{s.word}: {s.definition}", "pos": s.pos, "n": i % 5}
            for i, s in enumerate(wordnet_sample(600, seed=11))]


@pytest.fixture(scope="module")
def col(glosses: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Collection:
    c = Collection.create(tmp_path_factory.mktemp("hybrid") / "c")  # the default encoder
    report = c.add(glosses)
    assert report.added == len(glosses)
    return c


def test_hybrid_is_the_fusion_of_exact_dense_and_bm25(col: Collection, glosses: list[dict]) -> None:
    ids = [g["id"] for g in glosses]
    matrix = col.vectors(ids)
    for g in glosses[:15]:
        query = g["word"]
        depth = 50
        q = col.embed_query(query)[0]
        scores = matrix @ q
        order = np.argsort(-scores, kind="stable")[:depth]
        dense = [(ids[i], float(scores[i])) for i in order]
        lexical = [(h.id, h.score, h.explain["lexical"]["terms"]) for h in col.search(query, k=depth, mode="lexical",
                                                                            explain=True)]
        assert all(set(t) for _, _, t in lexical)  # every lexical hit says which terms it matched
        expected = [f.id for f in rrf(dense, lexical, k=10)]
        got = col.search(query, k=10, mode="hybrid", explain=True)
        assert [h.id for h in got] == expected
        assert got[0].explain["method"] == "rrf" and "fused" in got[0].explain
        expected_w = [f.id for f in weighted(dense, lexical, alpha=0.3, k=10)]
        assert [h.id for h in col.search(query, k=10, mode="hybrid", alpha=0.3)] == expected_w


def test_filters_apply_to_both_sides_before_fusion(col: Collection) -> None:
    for mode in ("lexical", "hybrid"):
        hits = col.search("a kind of tree", k=10, mode=mode, where="n = 2")
        assert hits and all(h.fields["n"] == 2 for h in hits)
    with pytest.raises(JointspaceError, match="text query"):
        col.search(np.ones(col.encoder.dim, np.float32), mode="hybrid")


def test_names_and_rare_words_are_found_by_hybrid(col: Collection, glosses: list[dict]) -> None:
    """A word (the synset's lemma, often a rare name) -> its gloss: hybrid finds at least as many as either."""
    rng = random.Random(0)
    sample = rng.sample(glosses, 60)
    found = {m: sum(g["id"] in [h.id for h in col.search(g["word"], k=10, mode=m)] for g in sample)
             for m in ("dense", "lexical", "hybrid")}
    assert found["hybrid"] >= max(found["dense"], found["lexical"]) - 2, found


def test_an_older_collection_gets_its_lexical_index_on_first_use(tmp_path: Path, glosses: list[dict]) -> None:
    import sqlite3

    c = Collection.create(tmp_path / "old", encoder="tfidf")
    c.add(glosses[:80])
    c.close()
    with sqlite3.connect(tmp_path / "old" / "items.sqlite") as db:  # what main wrote: no lexical table
        db.execute("DROP TABLE lexical")
    res = runner.invoke(app, ["check", str(tmp_path / "old")])
    assert res.exit_code == 0 and "missing" in res.output
    res = runner.invoke(app, ["reindex", str(tmp_path / "old")])
    assert res.exit_code == 0 and "lexical index built" in res.output, res.output
    again = Collection.open(tmp_path / "old")
    word = glosses[7]["word"]
    assert glosses[7]["id"] in [h.id for h in again.search(word, k=5, mode="lexical")]
    again.close()


@pytest.mark.parametrize("kind,bound", [("int8", 0.99), ("binary", 0.90)])
def test_quantised_search_recall_on_real_vectors(col: Collection, glosses: list[dict], tmp_path: Path,
                                                 kind: str, bound: float) -> None:
    ids = [g["id"] for g in glosses]
    vectors = col.vectors(ids)
    q = Collection.create(tmp_path / kind, encoder="tfidf", dim=vectors.shape[1], quantize=kind, rescore=8)
    q.upsert_vectors(ids, [{"n": g["n"]} for g in glosses], vectors)
    queries = col.embed_queries([g["word"] for g in glosses[:100]])
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    hits = q.search_batch(queries, k=10)
    recall = np.mean([len({ids[i] for i in t} & {h.id for h in row}) / 10 for t, row in zip(truth, hits,
                                                                                             strict=True)])
    assert recall >= bound, recall
    filtered = q.search(queries[0], k=10, where="n = 1")
    assert len(filtered) == 10 and all(h.fields["n"] == 1 for h in filtered)
    q.close()
    assert (tmp_path / kind / "codes.cache").exists()
    with Collection.open(tmp_path / kind) as again:  # codes reloaded by generation
        assert [h.id for h in again.search_batch(queries[:5], k=10)[0]] == [h.id for h in hits[0]]


def test_instant_open_uses_the_vector_cache_of_the_current_generation(tmp_path: Path, glosses: list[dict]) -> None:
    from jointspace.stores.embedded import vector_cache

    c = Collection.create(tmp_path / "c", encoder="tfidf")
    c.add(glosses[:200])
    first = [h.id for h in c.search("a tree", k=5)]
    c.close()
    header = vector_cache.read_header(tmp_path / "c" / "vectors.cache")
    assert header is not None and header["count"] == 200
    again = Collection.open(tmp_path / "c")
    assert again.store.generation() == header["generation"]
    assert [h.id for h in again.search("a tree", k=5)] == first
    assert again.store._cache_generations.get("vectors.cache") == header["generation"]  # read, not rebuilt
    again.add([glosses[300]])  # the cache is now stale: never trusted
    assert again.search(glosses[300]["text"], k=1)[0].id == glosses[300]["id"]
    again.close()


KILLED_WRITER = textwrap.dedent("""
    import sys, json, random
    from jointspace import Collection
    col = Collection.open(sys.argv[1])
    rows = [json.loads(line) for line in open(sys.argv[2])]
    rnd = random.Random(int(sys.argv[3]))
    i = 0
    while True:
        i += 1
        op = rnd.choice(["add", "upsert", "delete", "hybrid"])
        batch = rnd.sample(rows, 20)
        if op == "add":
            col.add([{**r, "id": f"{r['id']}-{i}"} for r in batch])
        elif op == "upsert":
            col.upsert([{**r, "text": r["text"] + " again"} for r in batch], batch_size=7)
        elif op == "delete":
            col.delete([r["id"] for r in batch])
        else:
            col.search("a tree", k=5, mode="hybrid")
""")


def test_lexical_index_and_vectors_agree_after_kills(tmp_path: Path, glosses: list[dict]) -> None:
    data = tmp_path / "g.jsonl"
    data.write_text("".join(json.dumps(g) + "\n" for g in glosses[:200]))
    c = Collection.create(tmp_path / "k", encoder="tfidf")
    c.add(glosses[:200])
    c.close()
    rng = random.Random(5)
    for trial in range(6):
        child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "k"), str(data), str(trial)])
        time.sleep(rng.uniform(2.0, 5.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        res = runner.invoke(app, ["check", str(tmp_path / "k"), "--json"])
        rows = {r["check"]: r for r in json.loads(res.stdout)}
        assert res.exit_code == 0, rows
        assert rows["lexical index"]["status"] == "ok" and rows["sqlite integrity"]["status"] == "ok"
    with Collection.open(tmp_path / "k") as again:
        assert again.search("a tree", k=5, mode="hybrid")


def test_damaged_collections_are_diagnosed_and_opening_changes_nothing(tmp_path: Path, glosses: list[dict]) -> None:
    c = Collection.create(tmp_path / "d", encoder="tfidf", index={"kind": "hnsw", "m": 8})
    c.add(glosses[:100])
    c.search("a tree", k=3)
    c.close()
    files = sorted(p.name for p in (tmp_path / "d").iterdir())
    # a corrupt HNSW cache is rebuilt, never trusted
    for graph in (tmp_path / "d").glob("hnsw.*.faiss"):
        graph.write_bytes(b"garbage" * 100)
    with Collection.open(tmp_path / "d") as again:
        assert again.search(glosses[3]["text"], k=1)[0].id == glosses[3]["id"]
    # a manifest without "fields"
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    (tmp_path / "d" / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "fields"}))
    with pytest.raises(FormatError, match="no fields"):
        Collection.open(tmp_path / "d")
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(manifest))
    # items.sqlite garbage, then gone: a diagnosis, and no empty database created
    (tmp_path / "d" / "items.sqlite").write_bytes(b"this is not a database" * 50)
    for extra in ("items.sqlite-wal", "items.sqlite-shm"):
        (tmp_path / "d" / extra).unlink(missing_ok=True)
    with pytest.raises(FormatError, match="not a readable jointspace database"):
        Collection.open(tmp_path / "d")
    res = runner.invoke(app, ["search", str(tmp_path / "d"), "tree"])
    assert res.exit_code == 1 and "Traceback" not in res.output and "jointspace check" in res.output
    (tmp_path / "d" / "items.sqlite").unlink()
    with pytest.raises(FormatError, match="items.sqlite is missing"):
        Collection.open(tmp_path / "d")
    assert not (tmp_path / "d" / "items.sqlite").exists()
    assert set(files) - {"items.sqlite-wal", "items.sqlite-shm"} >= {p.name for p in (tmp_path / "d").iterdir()} - {
        "items.sqlite-wal", "items.sqlite-shm"}
