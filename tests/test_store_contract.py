"""The store contract: one suite, run on the embedded, sharded and PostgreSQL stores (a real server).

Every backend must give the same answers through the same Collection verbs: writes and their reports,
exact search equal to brute force (with and without filters), similar items, reopening, and another
process's writes becoming visible. Vectors are given (seeded random unit vectors), so brute force over
numpy is the ground truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _pgserver import postgres_server

from jointspace import Collection, JointspaceError
from jointspace.stores.base import VECTOR_FIELDS

DIM = 32
N = 240
BACKENDS = ["embedded", "sharded", "postgres"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def data() -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [{"id": f"item-{i}", "text": f"item {i}", "year": 1900 + (i * 7) % 120,
                "genre": ["drama", "comedy", "news", "music"][i % 4], "rare": i % 50 == 0} for i in range(N)]
    return records, vectors


_counter = iter(range(10_000))


def location(backend: str, tmp_path: Path, pg_url: str | None) -> str:
    if backend == "postgres":
        assert pg_url
        return f"{pg_url}{'&' if '?' in pg_url else '?'}table=contract_{next(_counter)}"
    return str(tmp_path / backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture()
def loc(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    pg = request.getfixturevalue("pg_url") if backend == "postgres" else None
    return location(backend, tmp_path, pg)


def make(loc: str, backend: str) -> Collection:
    return Collection.create(loc, encoder="tfidf", dim=DIM, index="flat", shards=3 if backend == "sharded" else None)


@pytest.fixture()
def col(loc: str, backend: str, data: tuple[list[dict], np.ndarray]) -> Iterator[Collection]:
    records, vectors = data
    c = make(loc, backend)
    report = c.add(records, vectors=vectors)
    assert (report.added, report.skipped) == (N, [])
    yield c
    c.close()


def brute(vectors: np.ndarray, records: list[dict], query: np.ndarray, k: int, keep=lambda r: True) -> list[str]:
    scores = vectors @ query
    order = [i for i in np.argsort(-scores, kind="stable") if keep(records[i])]
    return [records[i]["id"] for i in order[:k]]


def test_backend_is_what_the_location_says(col: Collection, backend: str) -> None:
    assert col.backend == backend and len(col) == N
    assert ("item-3" in col) and ("nope" not in col)


def test_exact_search_equals_brute_force(col: Collection, data: tuple[list[dict], np.ndarray]) -> None:
    records, vectors = data
    rng = np.random.default_rng(1)
    for _ in range(10):
        q = rng.normal(size=DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        hits = col.search(q, k=10)
        assert [h.id for h in hits] == brute(vectors, records, q, 10)
        assert np.allclose([h.score for h in hits], np.sort(vectors @ q)[::-1][:10], atol=1e-5)
    batch = col.search_batch([vectors[5], vectors[9]], k=3)
    assert [b[0].id for b in batch] == ["item-5", "item-9"]


@pytest.mark.parametrize("where,keep", [
    ("year >= 1960", lambda r: r["year"] >= 1960),
    ({"genre": "comedy"}, lambda r: r["genre"] == "comedy"),
    ({"genre": {"$in": ["news", "music"]}, "year": {"$lt": 1950}}, lambda r: r["genre"] in ("news", "music")
     and r["year"] < 1950),
    ({"rare": True}, lambda r: r["rare"]),
    ({"genre": {"$nin": ["drama"]}}, lambda r: r["genre"] != "drama"),
])
def test_filtered_search_is_exact_and_full(col: Collection, data: tuple[list[dict], np.ndarray], where, keep) -> None:
    records, vectors = data
    q = vectors[17]
    passing = sum(1 for r in records if keep(r))
    k = 10
    hits = col.search(q, k=k, where=where)
    assert len(hits) == min(k, passing)  # k hits whenever k items pass
    assert [h.id for h in hits] == brute(vectors, records, q, k, keep)


def test_writes_and_their_reports(col: Collection, data: tuple[list[dict], np.ndarray]) -> None:
    records, vectors = data
    rep = col.add([records[0], {"id": "fresh", "text": "x"}, {"text": "no id"}],
                  vectors=[vectors[0], vectors[1], vectors[2]])
    assert rep.added == 1 and sorted(s.where for s in rep.skipped) == ["id 'item-0'", "record without id"]
    assert "exists already" in next(s.reason for s in rep.skipped if s.where == "id 'item-0'")
    rep = col.upsert([{**records[1], "genre": "changed"}], vectors=[vectors[1]])
    assert (rep.added, rep.updated) == (0, 1) and col.get("item-1")["genre"] == "changed"
    rep = col.add([{"id": "bad-vec", "text": "y"}, {"id": "zero", "text": "z"}],
                  vectors=[np.full(DIM, np.nan), np.zeros(DIM)])
    assert rep.added == 0 and {s.where for s in rep.skipped} == {"id 'bad-vec'", "id 'zero'"}
    rep = col.delete(["item-2", "nope"])
    assert rep.deleted == 1 and [s.where for s in rep.skipped] == ["id 'nope'"]
    assert "item-2" not in col and len(col) == N
    assert col.search(vectors[2], k=1)[0].id != "item-2"  # invisible to search at once
    # one id is one id, never its characters; integers are stored as their decimal string
    rep = col.add([{"id": 443, "text": "q"}], vectors=[vectors[3]])
    assert rep.added == 1 and col.get(443)["text"] == "q" and col.get("443")["text"] == "q"
    assert col.delete("443").deleted == 1
    assert col.get(["item-4", "item-5"])[1]["id"] == "item-5"
    with pytest.raises(KeyError, match="nope"):
        col.get("nope")


def test_similar_leaves_the_item_out(col: Collection, data: tuple[list[dict], np.ndarray]) -> None:
    records, vectors = data
    hits = col.similar("item-7", k=5)
    assert [h.id for h in hits] == brute(vectors, records, vectors[7], 6)[1:]
    hits = col.similar("item-7", k=5, where="genre = music")
    assert all(h.fields["genre"] == "music" for h in hits) and "item-7" not in [h.id for h in hits]


def test_reopen_after_close(col: Collection, loc: str, data: tuple[list[dict], np.ndarray]) -> None:
    records, vectors = data
    col.close()
    again = Collection.open(loc)
    try:
        assert len(again) == N and again.backend == col.backend
        assert again.search(vectors[11], k=1)[0].id == "item-11"
        assert again.get("item-11") == {"id": "item-11", **{k: v for k, v in records[11].items() if k != "id"}}
    finally:
        again.close()


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from jointspace import Collection
    col = Collection.open(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    vectors = rng.normal(size=(50, col.encoder.dim)).astype(np.float32)
    report = col.add([{"id": f"other-{i}", "text": "from another process", "genre": "other"} for i in range(50)],
                     vectors=vectors)
    col.close()
    print(report.added)
""")


def test_a_second_process_writes_are_visible(col: Collection, loc: str) -> None:
    assert col.search(np.ones(DIM, np.float32), k=3)  # this process has its index loaded
    out = subprocess.run([sys.executable, "-c", WRITER, loc, "3"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "50"
    assert len(col) == N + 50
    hits = col.search(np.ones(DIM, np.float32), k=100, where={"genre": "other"})
    assert len(hits) == 50 and {h.id for h in hits} == {f"other-{i}" for i in range(50)}
    # and this process's own next write keeps them
    col.add([{"id": "mine", "text": "here"}], vectors=[np.ones(DIM)])
    assert len(col.search(np.ones(DIM, np.float32), k=N + 60)) == N + 51


def test_capabilities_are_declared_and_errors_name_the_backend(col: Collection, backend: str,
                                                               data: tuple[list[dict], np.ndarray]) -> None:
    records, vectors = data
    # content recommendation works on every backend: it needs only the main vectors
    recs = col.recommend(liked=["item-1", "item-2"], k=5)
    assert len(recs) == 5 and not {"item-1", "item-2"} & {r.id for r in recs}
    if VECTOR_FIELDS in col.store.capabilities:
        assert backend == "embedded"
        return
    with pytest.raises(JointspaceError, match=f"the {backend} store"):
        col.add_vectors("extra", {"item-1": np.ones(4)})
    with pytest.raises(JointspaceError, match=f"the {backend} store"):
        col.add_interactions([("u1", "item-1")])


def test_empty_collection_and_bad_queries(loc: str, backend: str) -> None:
    c = make(loc, backend)
    try:
        assert c.search(np.ones(DIM, np.float32), k=5) == []
        assert c.search(np.ones(DIM, np.float32), k=5, where="year >= 2000") == []
        with pytest.raises(JointspaceError, match="NaN"):
            c.search(np.full(DIM, np.nan, np.float32))
        with pytest.raises(JointspaceError, match="search_batch"):
            c.search(np.ones((3, DIM), np.float32))
        with pytest.raises(JointspaceError, match="dim 5"):
            c.search(np.ones(5, np.float32))
    finally:
        c.close()


def test_migrate_round_trip_answers_the_same(col: Collection, backend: str, tmp_path: Path,
                                             data: tuple[list[dict], np.ndarray]) -> None:
    from jointspace.migrate import migrate

    records, vectors = data
    target = tmp_path / "copy"
    report = migrate(col.location if backend == "postgres" else col.path, target)
    assert report.added == N
    with Collection.open(target) as copy:
        for i in (3, 77, 150):
            assert [h.id for h in copy.search(vectors[i], k=10, where="year >= 1950")] == \
                   [h.id for h in col.search(vectors[i], k=10, where="year >= 1950")]
        assert json.dumps(copy.get("item-9"), sort_keys=True) == json.dumps(col.get("item-9"), sort_keys=True)


RICH = [{"id": f"r{i}", "text": f"rich {i}", "year": 1950 + i, "genre": ["drama", "comedy", "news"][i % 3],
         "tags": [["jazz", "blues"], ["rock"], []][i % 3], "meta": {"lang": ["en", "fr"][i % 2], "pages": i * 10},
         "score": float("nan") if i % 7 == 0 else i / 10, "flag": i % 4 == 0} for i in range(60)]
FILTERS = ["year >= 2000 or genre = drama", "not (genre in (news, comedy)) and year < 1980",
           "tags contains jazz", "meta.lang = fr and meta.pages >= 200", "score is null", "score > 3.5",
           {"$or": [{"flag": True}, {"meta.lang": {"$ne": "en"}}]}, "genre not in (drama)", "tags not contains rock",
           {"year": {"$in": list(range(1900, 2100, 3))}}, "year >= 1960 and year < 1970 and genre != 'news'"]


def test_the_filter_language_means_the_same_on_every_backend(loc: str, backend: str) -> None:
    """Each filter returns exactly the items the reference meaning (stores.filters.matches) selects."""
    from jointspace.stores.filters import FilterError, matches, parse

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(len(RICH), DIM)).astype(np.float32)
    c = make(loc, backend)
    try:
        report = c.add(RICH, vectors=vectors)
        assert report.added == len(RICH)
        assert len(report.notes) == sum(1 for r in RICH if r["score"] != r["score"])  # each NaN said so
        stored = {r["id"]: c.get(r["id"]) for r in RICH}
        for where in FILTERS:
            expected = {i for i, r in stored.items() if matches(parse(where), r)}
            assert expected, where
            hits = c.search(vectors[0], k=len(RICH), where=where)
            assert {h.id for h in hits} == expected, where
            assert set(c.ids_where(where)) == expected, where
        for bad, says in [("year >= 2000 and", "expected"), ("yaer > 3", "did you mean 'year'"),
                          ("nosuchfield = 1", "no item has the field"), ('genre in ("n)', "never closed"),
                          ("year = '2000'", "number"), ("tags = jazz", "contains")]:
            with pytest.raises(FilterError, match=says):
                c.search(vectors[0], k=5, where=bad)
        assert len(c.search(vectors[0], k=5, where="")) == 5 and len(c.search(vectors[0], k=5, where={})) == 5
        big = {"year": {"$in": list(range(10_000))}}
        assert len(c.search(vectors[0], k=100, where=big)) == len(RICH)
    finally:
        c.close()


WORDY = [{"id": f"w{i}", "text": t, "kind": ["a", "b"][i % 2]} for i, t in enumerate([
    "the zebra grazes on the savanna", "a violin concerto in D major", "quarterly revenue grew by ten percent",
    "the zebra crossing near the school", "a cello sonata for beginners", "revenue forecasts for next year",
    "savanna fires in the dry season", "the orchestra tuned their violins"])]


def test_lexical_and_hybrid_search_on_every_backend(loc: str, backend: str) -> None:
    """Words decide the lexical side; the same filter applies to both sides; every hit can say why."""
    c = Collection.create(loc, encoder="tfidf", dim=256, index="flat", shards=3 if backend == "sharded" else None)
    try:
        assert c.add(WORDY).added == len(WORDY)
        lexical = c.search("zebra", k=5, mode="lexical", explain=True)
        assert {h.id for h in lexical} == {"w0", "w3"}
        assert all("zebra" in h.explain["lexical"]["terms"] for h in lexical)
        assert [h.id for h in c.search("zebra", k=5, mode="lexical", where="kind = b")] == ["w3"]
        hybrid = c.search("violin revenue", k=4, mode="hybrid", explain=True)
        assert len(hybrid) == 4 and {"w1", "w2"} <= {h.id for h in hybrid}
        assert all("fused" in h.explain for h in hybrid)
        assert all(h.fields["kind"] == "a" for h in c.search("violin revenue", k=3, mode="hybrid", where="kind = a"))
        assert c.search("zzzz", k=3, mode="lexical") == []
        c.delete("w0")
        assert [h.id for h in c.search("zebra", k=5, mode="lexical")] == ["w3"]  # in the same commit
    finally:
        c.close()
