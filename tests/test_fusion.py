"""Hybrid fusion: RRF and the alpha-weighted sum equal to a brute force (BM25 from the formula + exact dense
scores over every document) on real WordNet glosses and MiniLM vectors, filters applied to both sides."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from test_lexical import PLAIN, brute_bm25

from jointspace.errors import JointspaceError
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.fusion import fuse, minmax, rrf, weighted
from jointspace.stores.embedded.index import VectorIndex
from jointspace.stores.embedded.lexical import LexicalIndex

K = 20  # depth of each side before fusion


@pytest.fixture(scope="module")
def setup() -> dict:
    from jointspace.encoders.minilm import MiniLMEncoder

    synsets = wordnet_sample(500, seed=21)
    rowids = [5 * i + 2 for i in range(len(synsets))]
    docs = {r: f"{', '.join(s.lemmas).replace('_', ' ')}: {s.definition}"
            for r, s in zip(rowids, synsets, strict=True)}
    queries = [s.word.replace("_", " ") for s in synsets[::25]] + [
        " ".join(s.definition.split()[:4]) for s in synsets[3::40]] + ["a musical instrument", "zyzzyva"]
    enc = MiniLMEncoder()
    vectors = enc.encode(list(docs.values()), batch_size=128).astype(np.float32)
    qvecs = enc.encode(queries, batch_size=128).astype(np.float32)
    db = sqlite3.connect(":memory:", isolation_level=None)
    lex = LexicalIndex(tokenizer=PLAIN)
    lex.ensure(db)
    lex.put(db, list(docs.items()))
    index = VectorIndex(vectors.shape[1])
    index.add(vectors)
    return {"docs": docs, "rowids": np.array(rowids), "vectors": vectors, "queries": queries, "qvecs": qvecs,
            "db": db, "lex": lex, "index": index}


def system(s: dict, qi: int, allowed: np.ndarray | None) -> tuple[list, list]:
    """What a store does: both searches, each restricted to the allowed rows, K deep."""
    positions = None if allowed is None else np.flatnonzero(np.isin(s["rowids"], allowed))
    scores, pos = s["index"].search(s["qvecs"][qi], K, allowed=positions)
    dense = [(int(s["rowids"][p]), float(v)) for v, p in zip(scores[0], pos[0], strict=True) if p >= 0]
    lexical = [(h.rowid, h.score, h.terms) for h in s["lex"].search(s["db"], s["queries"][qi], K, allowed)]
    return dense, lexical


def brute(s: dict, qi: int, allowed: np.ndarray | None, method: str, alpha: float = 0.5, k_rrf: float = 60
          ) -> list[tuple[int, float]]:
    """Every document scored both ways from scratch, each side cut to its K best, fused by the formula."""
    keep = set(s["docs"]) if allowed is None else set(allowed.tolist())
    cos = s["vectors"] @ s["qvecs"][qi]
    dense = sorted(((int(r), float(c)) for r, c in zip(s["rowids"], cos, strict=True) if r in keep),
                   key=lambda x: -x[1])[:K]
    bm = brute_bm25(s["docs"], s["queries"][qi])
    lexical = sorted(((r, v[0]) for r, v in bm.items() if r in keep), key=lambda x: (-x[1], x[0]))[:K]
    d_rank = {r: i + 1 for i, (r, _) in enumerate(dense)}
    l_rank = {r: i + 1 for i, (r, _) in enumerate(lexical)}
    ids = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical]))
    if method == "rrf":
        fused = {r: (1 / (k_rrf + d_rank[r]) if r in d_rank else 0) + (1 / (k_rrf + l_rank[r]) if r in l_rank else 0)
                 for r in ids}
    else:
        def norm(side: list[tuple[int, float]]) -> dict[int, float]:
            if not side:
                return {}
            lo, hi = min(v for _, v in side), max(v for _, v in side)
            return {r: (v - lo) / (hi - lo) if hi > lo else 1.0 for r, v in side}

        dn, ln = norm(dense), norm(lexical)
        fused = {r: alpha * dn.get(r, 0) + (1 - alpha) * ln.get(r, 0) for r in ids}
    big = 10**9
    return sorted(fused.items(), key=lambda x: (-x[1], d_rank.get(x[0], big), l_rank.get(x[0], big)))


@pytest.mark.parametrize("method,alpha", [("rrf", 0.5), ("weighted", 0.5), ("weighted", 0.3), ("weighted", 0.8)])
@pytest.mark.parametrize("filtered", [False, True])
def test_hybrid_equals_brute_force(setup: dict, method: str, alpha: float, filtered: bool) -> None:
    allowed = np.sort(np.random.default_rng(4).choice(setup["rowids"], 150, replace=False)) if filtered else None
    both_sides = 0
    for qi in range(len(setup["queries"])):
        dense, lexical = system(setup, qi, allowed)
        ours = fuse(dense, lexical, method=method, alpha=alpha, k=10)
        theirs = brute(setup, qi, allowed, method, alpha)[:10]
        assert [h.id for h in ours] == [r for r, _ in theirs], setup["queries"][qi]
        assert np.allclose([h.score for h in ours], [v for _, v in theirs], rtol=1e-6, atol=1e-6)  # float32 cosines
        if allowed is not None:
            assert set(h.id for h in ours) <= set(allowed.tolist())
        both_sides += sum(h.explanation.dense_rank is not None and h.explanation.lexical_rank is not None
                          for h in ours)
    assert both_sides > 20  # the sets overlap: fusion had real work to do


def test_explanations_say_where_the_score_came_from(setup: dict) -> None:
    qi = setup["queries"].index("a musical instrument")
    dense, lexical = system(setup, qi, None)
    for hit in rrf(dense, lexical, k=10):
        ex = hit.explanation.to_dict()
        assert ex["method"] == "rrf" and ex["k_rrf"] == 60 and ex["fused"] == pytest.approx(hit.score, abs=1e-6)
        parts = [1 / (60 + side["rank"]) for side in (ex["dense"], ex["lexical"]) if side]
        assert sum(parts) == pytest.approx(hit.score)
        if ex["lexical"]:
            doc = setup["docs"][hit.id].lower()
            assert ex["lexical"]["terms"] and all(t in doc for t in ex["lexical"]["terms"])
        if ex["dense"]:
            assert dense[ex["dense"]["rank"] - 1] == (hit.id, pytest.approx(ex["dense"]["score"], abs=1e-6))
    w = weighted(dense, lexical, alpha=0.25, k=3)[0].to_dict()
    assert set(w) == {"id", "score", "explain"} and w["explain"]["alpha"] == 0.25
    side = w["explain"]["dense"] or w["explain"]["lexical"]
    assert 0 <= side["normalised"] <= 1


def test_fusion_formulas_by_hand() -> None:
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.5)]
    lexical = [("c", 12.0, ["x"]), ("d", 6.0, ["y"]), ("a", 3.0, ["x", "y"])]
    out = rrf(dense, lexical, k_rrf=1)
    assert [h.id for h in out] == ["a", "c", "b", "d"]  # a: 1/2 + 1/4; c: 1/4 + 1/2 ties, a's dense rank wins
    assert [h.score for h in out] == pytest.approx([0.75, 0.75, 1 / 3, 1 / 3])
    out = weighted(dense, lexical, alpha=0.5)
    by_id = {h.id: h.score for h in out}
    assert by_id == pytest.approx({"a": 0.5, "b": 0.5 * 0.75, "c": 0.5, "d": 0.5 * 1 / 3})
    assert [h.id for h in weighted(dense, lexical, alpha=1.0)][:3] == ["a", "b", "c"]
    assert [h.id for h in weighted(dense, lexical, alpha=0.0)][:3] == ["c", "d", "a"]
    assert [h.id for h in rrf(dense, [])] == ["a", "b", "c"] and rrf([], []) == []
    assert list(minmax(np.array([2.0, 2.0]))) == [1.0, 1.0]
    assert len(rrf(dense, lexical, k=2)) == 2


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(JointspaceError, match="'a' twice"):
        rrf([("a", 1.0), ("a", 0.5)], [])
    with pytest.raises(JointspaceError, match="alpha"):
        weighted([], [], alpha=1.5)
    with pytest.raises(JointspaceError, match="not a finite"):
        weighted([("a", float("nan"))], [])
    with pytest.raises(JointspaceError, match="k must be"):
        rrf([], [], k=0)
    with pytest.raises(JointspaceError, match="unknown fusion"):
        fuse([], [], method="max")
    with pytest.raises(JointspaceError, match="expected"):
        rrf([("a",)], [])
