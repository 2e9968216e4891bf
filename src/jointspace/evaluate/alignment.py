"""Cross-modal retrieval metrics for a joint space: recall@k and median rank both ways, and the modality gap.

Queries are the distinct items of one side of held-out pairs, candidates the distinct items of the
other side; a candidate is relevant when it belongs to the query's pair group (its own partner, or
any item of the same class when pairs are many-to-one, e.g. images <-> class descriptions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jointspace.encoders.base import l2_normalise
from jointspace.errors import JointspaceError

KS = (1, 5, 10)


def _distinct(vectors: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct row once, with its group."""
    _, first = np.unique(np.ascontiguousarray(vectors), axis=0, return_index=True)
    first = np.sort(first)
    return vectors[first], groups[first]


def first_relevant_ranks(queries: np.ndarray, query_groups: np.ndarray, candidates: np.ndarray,
                         candidate_groups: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """1-based rank of the best-scoring relevant candidate for each query (ties broken pessimistically
    only against strictly higher scores). A query with no relevant candidate gets rank len+1."""
    ranks = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start:start + chunk] @ candidates.T
        relevant = query_groups[start:start + chunk, None] == candidate_groups[None, :]
        best = np.where(relevant, scores, -np.inf).max(axis=1)
        ranks[start:start + chunk] = 1 + (scores > best[:, None]).sum(axis=1)
        ranks[start:start + chunk][~relevant.any(axis=1)] = len(candidates) + 1
    return ranks


def direction_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    out = {f"recall@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["median_rank"] = float(np.median(ranks))
    return out


def modality_gap(left: np.ndarray, right: np.ndarray) -> float:
    """Distance between the centroids of the two sides' unit vectors (Liang et al., 2022)."""
    return float(np.linalg.norm(l2_normalise(left).mean(axis=0) - l2_normalise(right).mean(axis=0)))


def cross_modal_metrics(left: np.ndarray, right: np.ndarray, left_groups: Any = None,
                        right_groups: Any = None) -> dict[str, Any]:
    """``{"left->right": {recall@1, @5, @10, median_rank}, "right->left": {...}, "modality_gap": x}``.

    ``left[i]`` and ``right[i]`` are a held-out pair in the joint space; without groups, pairs sharing
    an item form a group (see ``jointspace.align.base.pair_groups``).
    """
    from jointspace.align.base import as_matrix, pair_groups

    left, right = as_matrix(left, "left"), as_matrix(right, "right")
    if len(left) != len(right) or not len(left):
        raise JointspaceError(f"{len(left)} left and {len(right)} right vectors: need the same number, at least 1")
    if left.shape[1] != right.shape[1]:
        raise JointspaceError(f"left dim {left.shape[1]} != right dim {right.shape[1]}: not one joint space")
    if left_groups is None or right_groups is None:
        left_groups = right_groups = pair_groups(left, right)
    left, right = l2_normalise(left), l2_normalise(right)
    lq, lg = _distinct(left, np.asarray(left_groups))
    rq, rg = _distinct(right, np.asarray(right_groups))
    return {
        "left->right": direction_metrics(first_relevant_ranks(lq, lg, rq, rg)),
        "right->left": direction_metrics(first_relevant_ranks(rq, rg, lq, lg)),
        "modality_gap": modality_gap(lq, rq),
    }
