"""Fusing a dense and a lexical ranking into one: reciprocal rank fusion and a weighted sum of normalised scores.

Pure functions over ranked lists, so every store (embedded, sharded, PostgreSQL) fuses the same way after
it has run both searches with the same filter. Each input is a list of ``(id, score)`` best first; the
lexical list may carry the matched terms as a third element, ``(id, score, terms)``.

* ``rrf``: ``sum over the lists of 1 / (k_rrf + rank)`` (ranks from 1; Cormack et al. 2009, k_rrf = 60).
  Scores are ignored, so cosines and BM25 need no common scale.
* ``weighted``: ``alpha * dense' + (1 - alpha) * lexical'`` where ``x' = (x - min) / (max - min)`` over the
  hits that list returned (all equal -> 1.0); a hit missing from one list gets 0 from it. ``alpha = 1`` is
  pure dense, ``alpha = 0`` pure lexical (Weaviate's convention).

Ties in the fused score are broken by the better dense rank, then the better lexical rank.
Every hit carries an ``Explanation`` (``to_dict()``) saying where its fused score came from.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.errors import JointspaceError

METHODS = ("rrf", "weighted")
DEFAULT_K_RRF = 60


@dataclass
class Explanation:
    """Why a hit ranks where it does: each side's score and rank (None when that side did not return it)."""

    method: str
    fused: float
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None
    terms: list[str] = field(default_factory=list)
    #: the min-max normalised scores (``weighted`` only)
    dense_normalised: float | None = None
    lexical_normalised: float | None = None
    params: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def side(score: float | None, rank: int | None, normalised: float | None) -> dict[str, Any] | None:
            if rank is None:
                return None
            out: dict[str, Any] = {"score": _round(score), "rank": rank}
            if normalised is not None:
                out["normalised"] = _round(normalised)
            return out

        lexical = side(self.lexical_score, self.lexical_rank, self.lexical_normalised)
        if lexical is not None:
            lexical["terms"] = list(self.terms)
        return {"method": self.method, **self.params, "fused": _round(self.fused),
                "dense": side(self.dense_score, self.dense_rank, self.dense_normalised), "lexical": lexical}


@dataclass
class FusedHit:
    """One fused result: the id, its fused score and the explanation."""

    id: Any
    score: float
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": _round(self.score), "explain": self.explanation.to_dict()}


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


@dataclass
class _Entry:
    score: float
    rank: int
    terms: list[str]


def _ranked(hits: Sequence[Sequence[Any]], side: str) -> dict[Hashable, _Entry]:
    out: dict[Hashable, _Entry] = {}
    for rank, hit in enumerate(hits, start=1):
        if len(hit) not in (2, 3):
            raise JointspaceError(f"{side} hit {rank} {hit!r}: expected (id, score) or (id, score, terms)")
        hid, score = hit[0], float(hit[1])
        if not math.isfinite(score):
            raise JointspaceError(f"{side} hit {hid!r}: score {score} is not a finite number")
        if hid in out:
            raise JointspaceError(f"{side} hits name {hid!r} twice (ranks {out[hid].rank} and {rank})")
        terms = list(hit[2]) if len(hit) == 3 and hit[2] is not None else []
        out[hid] = _Entry(score, rank, terms)
    return out


def _order(ids: list[Hashable], fused: np.ndarray, dense: dict[Hashable, _Entry],
           lexical: dict[Hashable, _Entry]) -> list[int]:
    big = len(dense) + len(lexical) + 1
    keys = [(-float(fused[i]), dense[h].rank if h in dense else big, lexical[h].rank if h in lexical else big)
            for i, h in enumerate(ids)]
    return sorted(range(len(ids)), key=keys.__getitem__)


def _union(dense: dict[Hashable, _Entry], lexical: dict[Hashable, _Entry]) -> list[Hashable]:
    return list(dense) + [h for h in lexical if h not in dense]


def _explain(method: str, hid: Hashable, fused: float, dense: dict[Hashable, _Entry],
             lexical: dict[Hashable, _Entry], params: dict[str, float]) -> Explanation:
    d, lx = dense.get(hid), lexical.get(hid)
    return Explanation(method, fused,
                       dense_score=d.score if d else None, dense_rank=d.rank if d else None,
                       lexical_score=lx.score if lx else None, lexical_rank=lx.rank if lx else None,
                       terms=lx.terms if lx else [], params=params)


def _limit(k: int | None) -> int | None:
    if k is not None and k < 1:
        raise JointspaceError(f"k must be at least 1, not {k}")
    return k


def rrf(dense: Sequence[Sequence[Any]], lexical: Sequence[Sequence[Any]], k_rrf: float = DEFAULT_K_RRF,
        k: int | None = None) -> list[FusedHit]:
    """Reciprocal rank fusion of two rankings; the best ``k`` (all when None), best first."""
    if not k_rrf >= 0:
        raise JointspaceError(f"k_rrf must be a number >= 0, not {k_rrf}")
    k = _limit(k)
    d, lx = _ranked(dense, "dense"), _ranked(lexical, "lexical")
    ids = _union(d, lx)
    fused = np.zeros(len(ids), dtype=np.float64)
    for i, h in enumerate(ids):
        if h in d:
            fused[i] += 1.0 / (k_rrf + d[h].rank)
        if h in lx:
            fused[i] += 1.0 / (k_rrf + lx[h].rank)
    params = {"k_rrf": float(k_rrf)}
    order = _order(ids, fused, d, lx)[:k]
    return [FusedHit(ids[i], float(fused[i]), _explain("rrf", ids[i], float(fused[i]), d, lx, params))
            for i in order]


def minmax(scores: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min)``; all 1.0 when every score is equal (one hit included)."""
    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores):
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.ones_like(scores)
    return (scores - lo) / (hi - lo)


def weighted(dense: Sequence[Sequence[Any]], lexical: Sequence[Sequence[Any]], alpha: float = 0.5,
             k: int | None = None) -> list[FusedHit]:
    """``alpha * dense' + (1 - alpha) * lexical'`` over min-max normalised scores; best ``k`` first."""
    if not 0.0 <= alpha <= 1.0:
        raise JointspaceError(f"alpha must be between 0 and 1 (1 = dense only), not {alpha}")
    k = _limit(k)
    d, lx = _ranked(dense, "dense"), _ranked(lexical, "lexical")
    dn = dict(zip(d, minmax(np.array([e.score for e in d.values()])), strict=True))
    ln = dict(zip(lx, minmax(np.array([e.score for e in lx.values()])), strict=True))
    ids = _union(d, lx)
    fused = np.array([alpha * dn.get(h, 0.0) + (1.0 - alpha) * ln.get(h, 0.0) for h in ids], dtype=np.float64)
    params = {"alpha": float(alpha)}
    out = []
    for i in _order(ids, fused, d, lx)[:k]:
        h = ids[i]
        ex = _explain("weighted", h, float(fused[i]), d, lx, params)
        ex.dense_normalised = float(dn[h]) if h in dn else None
        ex.lexical_normalised = float(ln[h]) if h in ln else None
        out.append(FusedHit(h, float(fused[i]), ex))
    return out


def fuse(dense: Sequence[Sequence[Any]], lexical: Sequence[Sequence[Any]], method: str = "rrf",
         alpha: float = 0.5, k_rrf: float = DEFAULT_K_RRF, k: int | None = None) -> list[FusedHit]:
    """``rrf`` or ``weighted`` by name (what the CLI's ``--alpha`` / HTTP's ``alpha`` select)."""
    if method == "rrf":
        return rrf(dense, lexical, k_rrf=k_rrf, k=k)
    if method == "weighted":
        return weighted(dense, lexical, alpha=alpha, k=k)
    raise JointspaceError(f"unknown fusion {method!r}; use one of {', '.join(METHODS)}")
