"""The columnar metadata cache (issue 13): exactly the filter's meaning, kept up to date, saved by generation."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_filter_language import RECORD, _node, _record

from jointspace.stores.embedded.columns import ColumnCache, top_k_masked
from jointspace.stores.filters import matches, parse, to_text


def _expected(node: Any, fields: dict[int, dict[str, Any]], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for pos, f in fields.items():
        out[pos] = matches(node, f)
    return out


@pytest.fixture(scope="module")
def case() -> tuple[ColumnCache, dict[int, dict[str, Any]], list[Any]]:
    """Random records at scattered positions, added in chunks, some replaced and some removed."""
    rng = random.Random(7)
    positions = rng.sample(range(500), 320)
    records = [json.loads(json.dumps(_record(rng))) for _ in positions]  # NaN as JSON gives it back
    live = dict(zip(positions, records, strict=True))
    cache = ColumnCache.build((positions[i:i + 50], records[i:i + 50]) for i in range(0, len(positions), 50))
    removed = positions[:40]
    cache.remove(removed)
    for p in removed:
        del live[p]
    replaced = positions[40:80]
    fresh = [_record(rng) for _ in replaced]
    cache.add(replaced, fresh)
    live.update(zip(replaced, fresh, strict=True))
    filters = [_node(rng) for _ in range(400)]
    return cache, live, filters


def test_mask_is_exactly_matches_on_random_filters(case: tuple[ColumnCache, dict, list]) -> None:
    cache, live, filters = case
    n = cache.size + 7  # positions the cache never saw pass nothing
    assert len(cache) == len(live)
    selective = 0
    for node in filters:
        got = cache.mask(node, n)
        want = _expected(node, live, n)
        assert got.dtype == bool and got.shape == (n,)
        assert np.array_equal(got, want), to_text(node)
        selective += 0 < want.sum() < len(live)
    assert selective > len(filters) // 4
    assert np.array_equal(cache.mask(None), _expected(None, live, cache.size))


@pytest.mark.parametrize("where", ["year = 2001", "year = 2001.0", "s5 = 5", "s5 = '5'", "flag = 1", "missing != 1",
                                   "nan is null", "nan != 0", "genre < Drama", "genre >= d", "tags contains 5.0",
                                   "tags contains true", "tags contains nested", "genre contains ram", "meta.n >= 3",
                                   "meta = en", "year in ()", "year not in ()", "flag in (true, 3)", "tags = jazz",
                                   "genre.x is null", "not (year < 1)"])
def test_reference_cases(where: str) -> None:
    cache = ColumnCache.from_items([0], [RECORD])
    node = parse(where)
    assert bool(cache.mask(node)[0]) is matches(node, RECORD), where


def test_the_cache_is_never_changed_by_a_query() -> None:
    cache = ColumnCache.from_items([0, 1], [{"a": 1}, {}])
    before = cache.mask("a is null").copy()
    for where in ["a is not null", "not a is null", "a = 1 and a is not null", "a != 1"]:
        cache.mask(where)
    assert np.array_equal(cache.mask("a is null"), before)


def test_upkeep_invalidates_the_string_order_and_the_list_index() -> None:
    cache = ColumnCache.from_items([0, 1], [{"s": "b", "t": ["x"]}, {"s": "d", "t": ["y"]}])
    assert cache.mask("s < c").tolist() == [True, False]
    assert cache.mask("t contains x").tolist() == [True, False]
    cache.add([2, 1], [{"s": "a", "t": ["x", 1]}, {"s": "c", "t": []}])  # a new word, a replaced row
    assert cache.mask("s < c").tolist() == [True, False, True]
    assert cache.mask("s <= c").tolist() == [True, True, True]
    assert cache.mask("t contains x").tolist() == [True, False, True]
    assert cache.mask("t contains 1.0").tolist() == [False, False, True]
    cache.remove([0])
    assert cache.mask("t contains x").tolist() == [False, False, True]
    assert cache.mask("s is null").tolist() == [False, False, False]  # a removed item passes nothing
    assert len(cache) == 2


def test_save_and_load_by_generation(tmp_path: Path, case: tuple[ColumnCache, dict, list]) -> None:
    cache, live, filters = case
    path = tmp_path / "cache" / "columns.npz"
    cache.save(path, generation=12)
    assert [p.name for p in path.parent.iterdir()] == ["columns.npz"]  # no temporary file left
    assert ColumnCache.load(path, generation=11) is None
    assert ColumnCache.load(tmp_path / "nothing.npz", generation=12) is None
    again = ColumnCache.load(path, generation=12)
    assert again is not None and len(again) == len(cache) and again.size == cache.size
    for node in filters[:150]:
        assert np.array_equal(again.mask(node), cache.mask(node)), to_text(node)
    again.add([again.size + 3], [{"n": 1}])  # the loaded cache keeps growing
    assert again.mask("n = 1")[-1]
    path.write_bytes(path.read_bytes()[:200])  # damaged: rebuilt, never trusted
    assert ColumnCache.load(path, generation=12) is None


def test_memory_and_size() -> None:
    n = 20_000
    fields = [{"year": 1900 + i % 121, "genre": "abcd"[i % 4]} for i in range(n)]
    cache = ColumnCache.build((np.arange(i, i + 3000)[: n - i], fields[i:i + 3000]) for i in range(0, n, 3000))
    per_item = cache.memory_bytes() / n
    assert 15 <= per_item <= 20  # live 1 + year 1 + 8 + genre 1 + 4 bytes, plus a tiny vocabulary
    assert cache.mask("year >= 1960 and genre = b").sum() == sum(
        1 for i in range(n) if 1900 + i % 121 >= 1960 and i % 4 == 1)


def test_bad_input() -> None:
    assert ColumnCache([3, 1], [{"a": 1}, {"a": 2}]).mask("a = 1").tolist() == [False, False, False, True]
    cache = ColumnCache()
    assert cache.mask("a = 1", 5).tolist() == [False] * 5  # an empty cache
    with pytest.raises(ValueError, match="positions for"):
        cache.add([0, 1], [{}])
    with pytest.raises(ValueError, match="non-negative"):
        cache.add([-1], [{}])


# ---------------------------------------------------------------------------------------------- top-k

def _masks(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    unsampled = np.ones(n, dtype=bool)
    unsampled[::32] = False  # many pass, but none that the threshold's sample looks at
    return [rng.random(n) < f for f in (1.0, 0.6, 0.3, 0.15, 0.05, 0.0005, 0.0)] + [unsampled]


@pytest.mark.parametrize("mask", _masks(20_000))
def test_top_k_masked_is_exact(mask: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((len(mask), 16)).astype(np.float32)
    queries = rng.standard_normal((3, 16)).astype(np.float32)
    passing = np.flatnonzero(mask)
    for qs in (queries, queries[:1], np.repeat(queries, 7, axis=0)):  # 21 queries: the gather path
        results = top_k_masked(matrix, qs, mask, k=10, chunk=100)
        assert len(results) == len(qs)
        for q, (positions, scores) in zip(qs, results, strict=True):
            full = matrix[passing] @ q
            best = passing[np.argsort(-full)[:10]]
            assert len(positions) == min(10, len(passing))  # k hits whenever k pass
            assert positions.tolist() == best.tolist()
            assert np.allclose(scores, np.sort(full)[::-1][:10], atol=1e-5)


def test_top_k_masked_unfiltered_and_ties() -> None:
    rng = np.random.default_rng(4)
    matrix = rng.standard_normal((30_000, 8)).astype(np.float32)
    queries = rng.standard_normal((2, 8)).astype(np.float32)
    assert [p.tolist() for p, _ in top_k_masked(matrix, queries, None, 5)] == \
        [np.argsort(-(matrix @ q))[:5].tolist() for q in queries]
    same = np.ones((30_000, 8), dtype=np.float32)  # every score equal
    mask = np.zeros(30_000, dtype=bool)
    mask[10_000:] = True
    positions, scores = top_k_masked(same, queries[:1], mask, 10)[0]
    assert len(positions) == 10 and mask[positions].all() and len(set(positions.tolist())) == 10
    assert top_k_masked(same, queries[:1], mask, 50_000)[0][0].shape == (20_000,)
    # a matrix FAISS cannot read in place (float64, or a strided view) goes through the gather
    for odd in (matrix.astype(np.float64), np.asfortranarray(matrix)):
        sparse = np.zeros(30_000, dtype=bool)
        sparse[::100] = True
        positions, _ = top_k_masked(odd, queries[:1], sparse, 5)[0]
        assert positions.tolist() == (np.flatnonzero(sparse)[np.argsort(-(matrix[sparse] @ queries[0]))[:5]]).tolist()


def test_top_k_masked_reads_a_memory_mapped_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    matrix = rng.standard_normal((20_000, 32)).astype(np.float32)
    np.save(tmp_path / "m.npy", matrix)
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")
    mask = rng.random(20_000) < 0.3
    query = rng.standard_normal(32).astype(np.float32)
    positions, scores = top_k_masked(mapped, query, mask, 10)[0]
    passing = np.flatnonzero(mask)
    assert positions.tolist() == passing[np.argsort(-(matrix[passing] @ query))[:10]].tolist()
