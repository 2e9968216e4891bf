"""int8 and binary codes on real MiniLM vectors: recall@10 against exact float32 search, filters, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jointspace.errors import JointspaceError
from jointspace.evaluate.datasets import wordnet_synsets
from jointspace.ranking import top_k
from jointspace.stores.embedded.quantize import BinaryCodes, Int8Codes, make_codes

N_BASE, N_QUERY = 3000, 150


@pytest.fixture(scope="module")
def minilm() -> tuple[np.ndarray, np.ndarray]:
    """Real MiniLM vectors of WordNet glosses: a base and held-out queries (other glosses)."""
    from jointspace.encoders.minilm import MiniLMEncoder

    synsets = wordnet_synsets()
    rng = np.random.default_rng(2)
    pick = rng.choice(len(synsets), N_BASE + N_QUERY, replace=False)
    vectors = MiniLMEncoder().encode([synsets[i].definition for i in pick], batch_size=128)
    return vectors[:N_BASE].astype(np.float32), vectors[N_BASE:].astype(np.float32)


def recall(positions: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(p) & set(t)) / len(t) for p, t in zip(positions, truth, strict=True)]))


def exact(base: np.ndarray, queries: np.ndarray, k: int = 10, allowed: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    if allowed is None:
        return top_k(queries @ base.T, k)
    s, local = top_k(queries @ base[allowed].T, k)
    return s, allowed[local]


def test_int8_recall_and_memory(minilm: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = minilm
    codes = Int8Codes().fit(base)
    assert np.array_equal(codes.add(base), np.arange(N_BASE))
    _, truth = exact(base, queries)
    _, raw = codes.search(queries, 10)
    s, rescored = codes.search(queries, 10, float_vectors=base, rescore=4)
    assert recall(raw, truth) >= 0.97
    assert recall(rescored, truth) >= 0.995
    assert np.allclose(s, np.take_along_axis(queries @ base.T, rescored, axis=1), atol=1e-5)  # exact scores
    assert codes.nbytes <= N_BASE * 384 * 1.01 + 8 * 384  # ~4x under float32 (1,536 bytes a vector)
    decoded = codes.decode(np.arange(20))
    step = codes.vdiff / 255
    assert (np.abs(decoded - base[:20]) <= step * 0.5 + 1e-6).all()  # within half a step of each range


def test_binary_rescoring_recovers_recall(minilm: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    base, queries = minilm
    codes = BinaryCodes().fit(base)
    codes.add(base)
    _, truth = exact(base, queries)
    _, raw = codes.search(queries, 10)
    np.save(tmp_path / "v.npy", base)
    mm = np.load(tmp_path / "v.npy", mmap_mode="r")  # the float rows may be a memory map
    _, rescored = codes.search(queries, 10, float_vectors=mm, rescore=10)
    assert recall(raw, truth) < 0.8  # sign bits alone are coarse...
    assert recall(rescored, truth) >= 0.95  # ...re-ranking 100 candidates by the float vectors is not
    assert codes.code_size() * 32 == 384 * 4
    assert codes.nbytes <= N_BASE * (48 + 1) + 8 * 384


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_filters_and_removal_before_ranking(minilm: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    base, queries = minilm
    codes = make_codes(kind).fit(base)
    codes.add(base)
    rng = np.random.default_rng(5)
    allowed = np.sort(rng.choice(N_BASE, 200, replace=False))
    removed = allowed[:50]
    codes.remove(removed)
    assert len(codes) == N_BASE - 50
    s, p = codes.search(queries, 10, float_vectors=base, rescore=20, allowed=allowed)
    alive_allowed = np.setdiff1d(allowed, removed)
    assert (p >= 0).all() and np.isin(p, alive_allowed).all()  # k hits: 150 rows pass
    _, truth = exact(base, queries, allowed=alive_allowed)
    assert recall(p, truth) >= 0.95
    s, p = codes.search(queries[:3], 10, float_vectors=base, allowed=alive_allowed[:4])
    assert (p[:, :4] >= 0).all() and (p[:, 4:] == -1).all() and np.isinf(s[:, 4:]).all()
    _, everywhere = codes.search(queries, 10)
    assert not np.isin(everywhere, removed).any()


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_save_load_by_generation(minilm: tuple[np.ndarray, np.ndarray], tmp_path: Path, kind: str) -> None:
    base, queries = minilm
    codes = make_codes(kind).fit(base[:2000])
    codes.add(base)
    codes.remove(np.arange(10))
    path = tmp_path / f"{kind}.codes"
    codes.save(path, generation=12)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    cls = type(codes)
    loaded = cls.load(path, 12)
    assert loaded is not None and len(loaded) == len(codes) and loaded.ntotal == codes.ntotal
    a = codes.search(queries, 10, float_vectors=base)
    b = loaded.search(queries, 10, float_vectors=base)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    assert cls.load(path, 13) is None  # stale
    assert cls.load(tmp_path / "missing", 12) is None
    other = BinaryCodes if cls is Int8Codes else Int8Codes
    assert other.load(path, 12) is None  # another kind
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    assert cls.load(path, 12) is None  # truncated
    path.write_bytes(raw + b"x")
    assert cls.load(path, 12) is None


def test_bad_input_is_a_clear_error(minilm: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = minilm
    with pytest.raises(JointspaceError, match="not fitted"):
        Int8Codes().search(queries, 10)
    with pytest.raises(JointspaceError, match="0 vectors"):
        BinaryCodes().fit(np.zeros((0, 384), np.float32))
    codes = Int8Codes().fit(base)
    codes.add(base)
    with pytest.raises(JointspaceError, match="dim 384"):
        codes.search(queries[:, :100], 10)
    with pytest.raises(JointspaceError, match="cannot rescore"):
        codes.search(queries, 10, float_vectors=base[:100])
    with pytest.raises(JointspaceError, match="position 5000"):
        codes.remove(np.array([5000]))
    with pytest.raises(JointspaceError, match="allowed position -1"):
        codes.search(queries, 10, allowed=np.array([-1]))
    with pytest.raises(JointspaceError, match="not a finite"):
        Int8Codes().fit(np.full((3, 4), np.nan, np.float32))
    with pytest.raises(JointspaceError, match="unknown quantize"):
        make_codes("pq")
