from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from jointspace import Collection, FormatError, JointspaceError
from jointspace.stores.filters import matches, parse


@pytest.fixture()
def col(tmp_path, wordnet_records):
    c = Collection.create(tmp_path / "c", encoder="tfidf", fields=["text"], dim=4096)
    report = c.add(wordnet_records)
    assert report.added == len(wordnet_records) and not report.skipped
    yield c
    c.close()


def test_search_finds_an_item_by_its_own_text(col, wordnet_records) -> None:
    record = wordnet_records[42]
    hits = col.search(record["text"], k=5)
    assert hits[0].id == record["id"]
    assert hits[0].fields["word"] == record["word"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(col) == len(wordnet_records)


def test_get_upsert_delete(col, wordnet_records) -> None:
    first = wordnet_records[0]
    assert col.get(first["id"])["word"] == first["word"]
    with pytest.raises(KeyError, match="no item with id 'missing'"):
        col.get("missing")
    # add refuses an existing id, upsert replaces it
    assert col.add([{**first, "text": "anything"}]).skipped[0].reason.startswith("id exists")
    report = col.upsert([{**first, "text": "zebra zebra zebra striped horse"}])
    assert (report.added, report.updated) == (0, 1)
    assert col.search("zebra striped horse", k=1)[0].id == first["id"]
    assert len(col) == len(wordnet_records)
    # delete removes from search at once
    target = wordnet_records[5]
    assert col.search(target["text"], k=1)[0].id == target["id"]
    report = col.delete([target["id"], "missing"])
    assert report.deleted == 1 and report.skipped[0].where == "id 'missing'"
    assert target["id"] not in {h.id for h in col.search(target["text"], k=20)}
    assert len(col) == len(wordnet_records) - 1


def _brute_force(col, records, query, where, k):
    """Expected hits: score every record that passes the filter, in plain Python/numpy."""
    node = parse(where)
    passing = [r for r in records if matches(node, r)]
    vectors = col.vectors([r["id"] for r in passing])
    scores = vectors @ col.encoder.encode([query])[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [passing[i]["id"] for i in order], scores[order]


@pytest.mark.parametrize("where", ["group = b", "rank >= 100 and rank < 130", "group in (a, c) and n_lemmas >= 2",
                                   "group != a"])
def test_filtered_search_equals_brute_force(col, wordnet_records, where) -> None:
    query = "a small animal that lives in water"
    expected_ids, expected_scores = _brute_force(col, wordnet_records, query, where, k=10)
    hits = col.search(query, k=10, where=where)
    assert len(hits) == min(10, len(expected_ids))
    np.testing.assert_allclose([h.score for h in hits], expected_scores, atol=1e-5)
    # ids agree except where scores tie
    expected = {i for i, s in zip(expected_ids, expected_scores, strict=True) if s > 0}
    assert {h.id for h in hits if h.score > 0} == expected


def test_filter_before_ranking_returns_k_when_k_exist(col) -> None:
    hits = col.search("a small animal", k=25, where="rank < 25")
    assert len(hits) == 25 and all(h.fields["rank"] < 25 for h in hits)
    assert col.search("x", k=5, where={"group": "none"}) == []


def test_hnsw_index_with_filter_and_reopen(tmp_path, wordnet_records) -> None:
    c = Collection.create(tmp_path / "h", encoder="tfidf", fields=["text"], dim=1024,
                          index={"kind": "hnsw", "m": 16})
    c.add(wordnet_records)
    r = wordnet_records[10]
    assert c.search(r["text"], k=3)[0].id == r["id"]
    hits = c.search(r["text"], k=10, where="group = b")
    assert len(hits) == 10 and all(h.fields["group"] == "b" for h in hits)
    c.close()
    assert len(list((tmp_path / "h").glob("hnsw.*.faiss"))) == 1  # the graph cache, named by its generation
    again = Collection.open(tmp_path / "h")
    assert again.search(r["text"], k=1)[0].id == r["id"]
    assert again.info()["index"]["kind"] == "hnsw"


def test_bad_records_are_skipped_and_reported(tmp_path) -> None:
    c = Collection.create(tmp_path / "b", encoder="tfidf", fields=["text"])
    report = c.add([
        {"id": "1", "text": "a fine record about cats"},
        {"id": "2", "text": ""},
        {"id": "3"},
        {"text": "no id here"},
        {"id": "4", "text": "another fine record about dogs"},
    ])
    assert report.added == 2
    assert [s.where for s in report.skipped] == ["id '2'", "id '3'", "record without id"]
    assert all("text" in s.reason or "id" in s.reason for s in report.skipped)


def test_query_vector_of_wrong_dimension(col) -> None:
    with pytest.raises(JointspaceError, match="dim 3"):
        col.search(np.ones(3, dtype=np.float32))
    with pytest.raises(JointspaceError, match="k must be a whole number of at least 1"):
        col.search("x", k=0)


def test_unknown_format_version_is_refused(col) -> None:
    manifest = json.loads((col.path / "manifest.json").read_text())
    manifest["format"] = 999
    (col.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="format 999 is not supported"):
        Collection.open(col.path)


def test_second_process_sees_writes(col, wordnet_records) -> None:
    other = Collection.open(col.path)
    assert len(other.search("water", k=3)) == 3
    moved = wordnet_records[3]
    col.delete([wordnet_records[0]["id"], moved["id"]])
    col.upsert([{"id": "new", "text": moved["text"]}])
    assert other.search(moved["text"], k=1)[0].id == "new"  # reloads: generation changed
    assert wordnet_records[0]["id"] not in other
    other.close()


CHILD = textwrap.dedent("""
    import itertools, sys, time
    from pathlib import Path
    from jointspace import Collection
    path, marker = sys.argv[1], Path(sys.argv[2])
    col = Collection.open(path)
    def endless():
        for i in itertools.count():
            if i == 600:
                marker.write_text("two batches inserted, transaction open")
            if i > 600:
                time.sleep(0.01)
            yield {"id": f"new-{i}", "text": f"record number {i} about cats and dogs"}
    col.add(endless(), batch_size=256, atomic=sys.argv[3] == "atomic")
""")


@pytest.mark.parametrize("mode", ["atomic", "batches"])
def test_sigkill_during_add_leaves_a_committed_state(col, wordnet_records, tmp_path, mode) -> None:
    """Atomic: the previous state. Batches (the default): the previous state plus whole committed batches."""
    before = col.search("a small animal that lives in water", k=5)
    col.close()
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(col.path), str(marker), mode])
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the child never got into its add"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    again = Collection.open(col.path)
    new = sorted(int(i[4:]) for i in again.ids() if i.startswith("new-"))
    if mode == "atomic":
        assert len(again) == len(wordnet_records) and not new
    else:  # every committed batch whole, in order: at least the two batches before the marker
        assert len(new) % 256 == 0 and len(new) >= 512 and new == list(range(len(new)))
        assert again.get("new-3")["text"] == "record number 3 about cats and dogs"
    after = again.search("a small animal that lives in water", k=5, where={"group": {"$in": ["a", "b", "c"]}})
    assert [h.id for h in after] == [h.id for h in before]
    assert again.add([{"id": "ok", "text": wordnet_records[0]["text"]}]).added == 1  # still writable
    again.close()


def test_precomputed_vectors_and_duplicate_ids_in_one_write(tmp_path) -> None:
    c = Collection.create(tmp_path / "v", encoder="minilm", fields=["text"])
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 384)).astype(np.float32)
    report = c.add([{"id": "a"}, {"id": "b"}, {"id": "a", "note": "second"}, {"id": "c"}], vectors=vectors)
    assert (report.added, len(c)) == (3, 3)
    assert [s.where for s in report.skipped] == ["id 'a'"] and "last occurrence" in report.skipped[0].reason
    assert c.get("a")["note"] == "second"
    hits = c.search(vectors[2], k=3)
    assert hits[0].id == "a" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert {h.id for h in hits} == {"a", "b", "c"}  # the replaced first "a" is not a ghost in the index
    bad = c.add([{"id": "d"}], vectors=np.ones((1, 5), np.float32))
    assert bad.added == 0 and "dim 5" in bad.skipped[0].reason
    with pytest.raises(JointspaceError, match="2 records but 1 vectors"):
        c.add([{"id": "e"}, {"id": "f"}], vectors=vectors[:1])
