"""Recommendation: items for someone, from the items they liked, by a weighted fusion of named vector fields.

For each field (the main "text" vector, and extra fields such as "theme", "image", "behaviour"):

* a **profile** from the liked items: their vectors' mean (recency-weighted when timestamps are
  given: weight ``0.5 ** (age / half_life)``), scored against every item by cosine; a field whose
  encoder has ``profile_scores`` (the behaviour model) scores instead by folding the liked items in
  as a new user (``u . y``, the ALS preference);
* the scores are **standardised** per field over the items that have that field (z-scores), so the
  weights compare fields on one scale whatever their encoder;
* the fused score is ``sum_f w_f z_f / sum_f w_f``. An item without a field (no interactions yet:
  cold start) counts as average (0) there, so content alone can still bring it up.

Maximal marginal relevance (``diversify`` = lambda) re-ranks the best candidates: each pick maximises
``(1 - lambda) relevance - lambda max-similarity-to-picked``. Each result says why: each field's
contribution, the top one, and the nearest liked item.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from jointspace.encoders import Encoder
from jointspace.errors import JointspaceError

if TYPE_CHECKING:
    from jointspace.collection import Collection

DAY = 86_400.0
_CACHE: weakref.WeakKeyDictionary[Any, Recommender] = weakref.WeakKeyDictionary()


@dataclass
class Recommendation:
    """One recommended item: id, fused score, stored fields, and why it was chosen."""

    id: str
    score: float
    fields: dict[str, Any]
    why: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(float(self.score), 6), "fields": self.fields, "why": self.why}


class Recommendations(list[Recommendation]):
    """The results, best first; ``unknown`` lists the liked ids that were not in the collection."""

    def __init__(self, items: Sequence[Recommendation], unknown: list[str], weights: dict[str, float],
                 liked: list[str]) -> None:
        super().__init__(items)
        self.unknown = unknown
        self.weights = weights
        self.liked = liked

    def to_pandas(self) -> Any:
        """A DataFrame: id, score, one column per field, and why (the top field and the nearest liked item)."""
        from jointspace.frames import hits_frame

        frame = hits_frame(self)
        frame["why"] = [r.why for r in self]
        return frame


@dataclass
class _Field:
    name: str
    matrix: np.ndarray  # (n_items, dim), unit rows; zeros where the item has no vector
    has: np.ndarray  # (n_items,) bool
    encoder: Encoder | None = None

    @property
    def scores_by_encoder(self) -> bool:
        return self.encoder is not None and hasattr(self.encoder, "profile_scores")


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``"text=1,theme=0.5"`` -> ``{"text": 1.0, "theme": 0.5}``."""
    if text is None or not text.strip():
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise JointspaceError(f"cannot read the weight {part.strip()!r}; write e.g. text=1,behaviour=0.5") from None
    return out


def recency_weights(timestamps: Sequence[float | None], half_life_days: float | None) -> np.ndarray:
    """Weight 1 for the newest liked item, halving every ``half_life_days`` before it (1s without times)."""
    if not half_life_days or not timestamps or any(t is None for t in timestamps):
        return np.ones(len(timestamps))
    ts = np.asarray(timestamps, dtype=np.float64)
    return 0.5 ** ((ts.max() - ts) / (half_life_days * DAY))


def zscore(scores: np.ndarray) -> np.ndarray:
    """Row-wise standard scores over the non-NaN entries; NaN (item lacks the field) becomes 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = ~np.isnan(scores)
        count = valid.sum(axis=1, keepdims=True)
        filled = np.where(valid, scores, 0.0)
        mean = filled.sum(axis=1, keepdims=True) / np.maximum(count, 1)
        var = (np.where(valid, scores - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / np.maximum(count, 1)
        std = np.sqrt(var)
        z = np.where(valid & (std > 0), (scores - mean) / np.where(std > 0, std, 1.0), 0.0)
    return z.astype(np.float32)


def recommender_for(col: Collection) -> Recommender:
    """The collection's Recommender, kept while the collection's generation stays the same."""
    cached = _CACHE.get(col)
    if cached is None or cached.generation != col.generation():
        cached = _CACHE[col] = Recommender(col)
    return cached


class Recommender:
    """The collection's named fields held in memory, aligned on its items, ready to score profiles."""

    def __init__(self, col: Collection) -> None:
        self.col = col
        self.generation = col.generation()
        self.ids = col.ids()
        self.pos = {item_id: i for i, item_id in enumerate(self.ids)}
        self.fields: dict[str, _Field] = {}
        for name in col.vector_fields():
            self.fields[name] = self._aligned(name, col.field_vectors(name),
                                              None if name == col.vector_name else col.field_encoder(name))

    def _aligned(self, name: str, vectors: dict[str, np.ndarray], enc: Encoder | None) -> _Field:
        dim = len(next(iter(vectors.values()))) if vectors else (enc.dim if enc else 1)
        matrix = np.zeros((len(self.ids), dim), dtype=np.float32)
        has = np.zeros(len(self.ids), dtype=bool)
        for item_id, vector in vectors.items():
            i = self.pos.get(item_id)
            if i is not None:
                matrix[i] = vector
                has[i] = True
        return _Field(name, matrix, has, enc)

    # -- weights and profiles -------------------------------------------------------------------------
    def resolve_weights(self, weights: dict[str, float] | None) -> dict[str, float]:
        """Every field at weight 1 by default; a named field the collection lacks is an error."""
        if weights is None:
            return {name: 1.0 for name in self.fields}
        unknown = [name for name in weights if name not in self.fields]
        if unknown:
            raise JointspaceError(f"weights name field(s) this collection does not have: {', '.join(unknown)}; "
                                  f"it has: {', '.join(self.fields)}")
        bad = [name for name, w in weights.items() if not math.isfinite(w) or w < 0]
        if bad:
            raise JointspaceError(f"weights must be finite and >= 0; got {', '.join(f'{n}={weights[n]}' for n in bad)}")
        used = {name: float(w) for name, w in weights.items() if w > 0}
        if not used:
            raise JointspaceError("every weight is 0: give at least one field a positive weight")
        return used

    def field_scores(self, name: str, histories: Sequence[Sequence[int]], hweights: Sequence[Sequence[float]]
                     ) -> np.ndarray:
        """(profiles, items) raw scores of one field; NaN where an item (or a whole profile) lacks it."""
        fd = self.fields[name]
        if fd.scores_by_encoder:
            assert fd.encoder is not None
            return fd.encoder.profile_scores([[self.ids[i] for i in h] for h in histories], hweights,  # type: ignore[attr-defined]
                                             self.ids)
        rows, cols, vals = [], [], []
        for r, (hist, ws) in enumerate(zip(histories, hweights, strict=True)):
            for i, w in zip(hist, ws, strict=True):
                if fd.has[i]:
                    rows.append(r)
                    cols.append(i)
                    vals.append(w)
        weights = sp.csr_matrix((vals, (rows, cols)), shape=(len(histories), len(self.ids)), dtype=np.float32)
        profiles = np.asarray(weights @ fd.matrix)
        norms = np.linalg.norm(profiles, axis=1, keepdims=True)
        profiles = np.divide(profiles, norms, out=np.zeros_like(profiles), where=norms > 0)
        scores = (profiles @ fd.matrix.T).astype(np.float64)
        scores[:, ~fd.has] = np.nan
        scores[norms[:, 0] == 0, :] = np.nan
        return scores

    def score_profiles(self, histories: Sequence[Sequence[int]], hweights: Sequence[Sequence[float]],
                       weights: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fused scores (profiles, items) and each field's weighted contribution (the same shape)."""
        total = sum(weights.values())
        parts = {name: (w / total) * zscore(self.field_scores(name, histories, hweights))
                 for name, w in weights.items()}
        fused = np.sum(list(parts.values()), axis=0)
        return fused, parts

    # -- the task -----------------------------------------------------------------------------------------
    def _liked(self, liked: Any, user: str | None) -> tuple[list[str], list[float | None]]:
        if user is not None:
            if liked:
                raise JointspaceError("give liked items or a user, not both")
            hist = self.col.history(user)
            return [h.item for h in hist], [h.timestamp for h in hist]
        if liked is None or isinstance(liked, str | bytes) or not len(liked):
            raise JointspaceError("no liked items given: pass liked=[id, ...] (or a user)")
        pairs = liked.items() if isinstance(liked, dict) else [
            (x[0], x[1]) if isinstance(x, tuple | list) else (x, None) for x in liked]
        latest: dict[str, float | None] = {}
        for item_id, ts in pairs:  # a repeated id keeps its latest time
            item_id = str(item_id)
            old = latest.get(item_id)
            latest[item_id] = ts if old is None or (ts is not None and float(ts) > float(old)) else old
        return list(latest), [None if t is None else float(t) for t in latest.values()]

    def recommend(self, liked: Any = None, k: int = 10, weights: dict[str, float] | None = None,
                  exclude_liked: bool = True, where: dict[str, Any] | str | None = None, diversify: float = 0.0,
                  user: str | None = None, half_life_days: float | None = 180.0) -> Recommendations:
        """The ``k`` best items for a profile of liked items (ids, (id, timestamp) pairs or {id: ts}).

        Liked ids not in the collection are reported in ``.unknown`` and the rest used; none known is
        an error. ``weights`` (field -> weight; default every field 1) chooses and weighs the fields.
        """
        if k < 1:
            raise JointspaceError(f"k must be at least 1, got {k}")
        if not 0.0 <= diversify <= 1.0:
            raise JointspaceError(f"diversify must be between 0 and 1, got {diversify}")
        ids, times = self._liked(liked, user)
        unknown = [i for i in ids if i not in self.pos]
        known = [(self.pos[i], t) for i, t in zip(ids, times, strict=True) if i in self.pos]
        if not known:
            raise JointspaceError(f"none of the liked ids is in the collection: {', '.join(map(repr, ids[:10]))}")
        used = self.resolve_weights(weights)
        hist = [p for p, _ in known]
        hw = recency_weights([t for _, t in known], half_life_days)
        fused, parts = self.score_profiles([hist], [list(hw)], used)
        fused, parts = fused[0], {n: p[0] for n, p in parts.items()}
        allowed = np.ones(len(self.ids), dtype=bool)
        if exclude_liked:
            allowed[hist] = False
        if where:
            mask = np.zeros_like(allowed)
            mask[[self.pos[i] for i in self.col.ids_where(where)]] = True
            allowed &= mask
        candidates = np.flatnonzero(allowed)
        order = candidates[np.argsort(-fused[candidates], kind="stable")]
        pool = order[: max(k, 10 * k, 100)] if diversify > 0 else order[:k]
        reps = self._representation(np.concatenate([pool, hist]), used)
        pool_reps, liked_reps = reps[: len(pool)], reps[len(pool):]
        chosen = self._mmr(fused[pool], pool_reps, k, diversify) if diversify > 0 else list(range(len(pool)))
        out = []
        for c in chosen:
            i = int(pool[c])
            contributions = {n: round(float(p[i]), 4) for n, p in parts.items()}
            sims = liked_reps @ pool_reps[c]
            near = int(np.argmax(sims))
            why = {"top_field": max(contributions, key=lambda n: contributions[n]),
                   "contributions": contributions,
                   "nearest_liked": self.ids[hist[near]],
                   "nearest_liked_similarity": round(float(sims[near]), 4)}
            missing = [n for n in used if not self.fields[n].has[i]]
            if missing:
                why["missing_fields"] = missing
            out.append(Recommendation(self.ids[i], float(fused[i]), self.col.get(self.ids[i]), why))
            out[-1].fields.pop(self.col.id_field, None)
        return Recommendations(out, unknown, used, [self.ids[p] for p in hist])

    def _representation(self, rows: np.ndarray, weights: dict[str, float]) -> np.ndarray:
        """One unit vector per item, the weighted concatenation of its fields: a cosine between two of
        them is the weight-averaged cosine of their fields (the similarity for MMR and explanations)."""
        total = sum(weights.values())
        parts = [math.sqrt(w / total) * self.fields[n].matrix[rows] for n, w in weights.items()]
        rep = np.concatenate(parts, axis=1)
        norms = np.linalg.norm(rep, axis=1, keepdims=True)
        return np.divide(rep, norms, out=np.zeros_like(rep), where=norms > 0)

    @staticmethod
    def _mmr(relevance: np.ndarray, reps: np.ndarray, k: int, lam: float) -> list[int]:
        """Greedy maximal marginal relevance over a pool (relevance rescaled to [0, 1])."""
        span = float(relevance.max() - relevance.min()) if len(relevance) else 0.0
        rel = (relevance - relevance.min()) / span if span > 0 else np.ones_like(relevance)
        chosen: list[int] = []
        max_sim = np.full(len(rel), -np.inf)
        left = np.ones(len(rel), dtype=bool)
        for _ in range(min(k, len(rel))):
            penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
            value = np.where(left, (1 - lam) * rel - lam * penalty, -np.inf)
            pick = int(np.argmax(value))
            chosen.append(pick)
            left[pick] = False
            max_sim = np.maximum(max_sim, reps @ reps[pick])
        return chosen


__all__ = ["Recommendation", "Recommendations", "Recommender", "parse_weights", "recency_weights", "zscore"]
