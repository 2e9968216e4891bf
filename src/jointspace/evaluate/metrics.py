"""Ranking metrics over ranked lists of ids and sets of relevant ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def first_relevant_rank(ranked: Sequence[object], relevant: set[object]) -> int | None:
    """1-based rank of the first relevant id in ``ranked``, or None when none is there."""
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return rank
    return None


def retrieval_metrics(ranks: Sequence[int | None], ks: Sequence[int] = (1, 10)) -> dict[str, float]:
    """recall@k (a relevant item in the top k) and MRR from each query's first relevant rank."""
    n = len(ranks)
    if n == 0:
        raise ValueError("no queries to evaluate")
    out = {f"recall@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in ks}
    out["mrr"] = sum(1.0 / r for r in ranks if r is not None) / n
    found = [r for r in ranks if r is not None]
    out["median_rank"] = float(np.median(found)) if len(found) == n else float("nan")
    out["queries"] = n
    return out


def ndcg_at_k(ranked: Sequence[object], relevant: set[object], k: int) -> float:
    gains = [1.0 / np.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(k, len(relevant))))
    return float(sum(gains) / ideal) if ideal else 0.0
