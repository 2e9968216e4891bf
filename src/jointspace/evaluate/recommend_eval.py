"""Recommendation quality on real ratings: a seeded 80/20 split per user, top-10 over all unseen items.

Every rating counts as an implicit interaction (the usual protocol for MovieLens top-k). Methods:
``popular`` (train counts), ``itemknn`` (cosine item-item on the train matrix, 200 neighbours per
item; the public baseline), and four through jointspace's own recommend path on a real collection:
``content`` (the text field only: title, year, genres), ``als`` (the ALS behaviour field only;
``behaviour`` is its old name), ``ease`` (the EASE behaviour field only, Steck 2019) and ``hybrid``
(EASE + ALS + content, z-scored and weighted: the two behaviour models rank the known items, the
content field is what ranks new ones). Metrics: precision@10, recall@10, NDCG@10 (binary gains), coverage@10
(share of the catalogue in anyone's top 10).

Cold start: a seeded share of the items loses all its training interactions (as if just added);
each method then ranks only those items for each user who has test ratings on them
(``cold_recall@10``, ``cold_ndcg@10``). Ties are broken by a seeded shuffle, so a method with no
signal for new items scores like chance.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from jointspace.collection import Collection
from jointspace.evaluate.metrics import ndcg_at_k
from jointspace.evaluate.movielens_data import RatingsData
from jointspace.interactions import Interaction
from jointspace.tasks.recommend import Recommender, recency_weights

METHODS = ("popular", "itemknn", "content", "als", "ease", "hybrid")
ALIASES = {"behaviour": "als"}
HYBRID_WEIGHTS = {"ease": 1.0, "behaviour": 0.5, "text": 0.05}  # chosen on the validation split
ITEMKNN_NEIGHBOURS = 200


def split_per_user(ratings: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's ratings shuffled (seeded) and cut: ``test_fraction`` of them, rounded, held out."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for _, rows in ratings.groupby("user", sort=True).indices.items():
        rows = rng.permutation(rows)
        cut = len(rows) - int(round(test_fraction * len(rows)))
        train_idx.append(rows[:cut])
        test_idx.append(rows[cut:])
    return ratings.iloc[np.concatenate(train_idx)], ratings.iloc[np.concatenate(test_idx)]


def top_k_ranked(scores: np.ndarray, exclude: sp.csr_matrix | None, k: int, seed: int = 0,
                 candidates: np.ndarray | None = None) -> np.ndarray:
    """(users, k) item positions, best first; ``exclude`` (train items) never returned; ties shuffled."""
    scores = np.array(scores, dtype=np.float64)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    if candidates is not None:
        mask = np.ones(scores.shape[1], dtype=bool)
        mask[candidates] = False
        scores[:, mask] = -np.inf
    perm = np.random.default_rng(seed).permutation(scores.shape[1])
    shuffled = scores[:, perm]
    part = np.argpartition(-shuffled, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(shuffled, part, axis=1), axis=1, kind="stable")
    return perm[np.take_along_axis(part, order, axis=1)]


def ranking_metrics(top: np.ndarray, relevant: Sequence[set[int]], n_items: int, k: int = 10) -> dict[str, float]:
    users = [u for u, rel in enumerate(relevant) if rel]
    hits = [len(set(top[u, :k].tolist()) & relevant[u]) for u in users]
    return {
        f"precision@{k}": float(np.mean([h / k for h in hits])),
        f"recall@{k}": float(np.mean([h / len(relevant[u]) for h, u in zip(hits, users, strict=True)])),
        f"ndcg@{k}": float(np.mean([ndcg_at_k(top[u, :k].tolist(), relevant[u], k) for u in users])),
        f"coverage@{k}": len(set(top[users, :k].ravel().tolist())) / n_items,
    }


def itemknn_scores(train: sp.csr_matrix, neighbours: int = ITEMKNN_NEIGHBOURS) -> np.ndarray:
    """Item-based kNN: cosine between item columns, each item keeping its ``neighbours`` most similar."""
    counts = np.sqrt(np.asarray(train.sum(axis=0)).ravel())
    sim = (train.T @ train).toarray().astype(np.float64)
    sim /= np.outer(counts, counts) + 1e-9
    np.fill_diagonal(sim, 0.0)
    if neighbours < sim.shape[0]:
        threshold = -np.partition(-sim, neighbours - 1, axis=0)[neighbours - 1]
        sim[sim < threshold[None, :]] = 0.0
    return np.asarray(train @ sim)


class _Setup:
    """The items in a real collection (content field) plus the behaviour field fitted on ``train``."""

    def __init__(self, data: RatingsData, workdir: str, content_encoder: str,
                 progress: Callable[[int], None] | None) -> None:
        self.col = Collection.create(f"{workdir}/items", encoder=content_encoder, fields=["text"])
        self.col.add(({"id": r.id, "text": r.text, "title": r.title} for r in data.items.itertuples()),
                     progress=progress)
        self.ids = self.col.ids()
        self.pos = {item_id: i for i, item_id in enumerate(self.ids)}

    def fit_behaviour(self, train: pd.DataFrame) -> Recommender:
        inters = (Interaction(u, i, float(r), float(t)) for u, i, r, t in
                  train[["user", "item", "rating", "timestamp"]].itertuples(index=False))
        inters = list(inters)
        self.col.add_interactions(inters, merge=False)  # "behaviour": ALS
        self.col.add_interactions(inters, field="ease", merge=False, model="ease")
        return Recommender(self.col)

    def matrix(self, frame: pd.DataFrame, users: list[str]) -> sp.csr_matrix:
        upos = {u: i for i, u in enumerate(users)}
        known = frame[frame["item"].isin(self.pos)]
        return sp.csr_matrix((np.ones(len(known)), (known["user"].map(upos), known["item"].map(self.pos))),
                             shape=(len(users), len(self.ids)))


def _histories(train: pd.DataFrame, users: list[str], pos: dict[str, int], half_life_days: float | None
               ) -> tuple[list[list[int]], list[list[float]]]:
    groups = train.groupby("user")
    hist, weights = [], []
    for user in users:
        rows = groups.get_group(user) if user in groups.groups else train.iloc[:0]
        hist.append([pos[i] for i in rows["item"]])
        weights.append(list(recency_weights(list(rows["timestamp"]), half_life_days)))
    return hist, weights


def _method_scores(method: str, rec: Recommender, train_m: sp.csr_matrix, hist: list[list[int]],
                   hw: list[list[float]], weights: dict[str, float]) -> np.ndarray:
    if method == "popular":
        return np.tile(np.asarray(train_m.sum(axis=0)).ravel(), (train_m.shape[0], 1))
    if method == "itemknn":
        return itemknn_scores(train_m)
    used = {"content": {rec.col.vector_name: 1.0}, "als": {"behaviour": 1.0}, "ease": {"ease": 1.0},
            "hybrid": weights}[method]
    return rec.score_profiles(hist, hw, used)[0]


def evaluate_recommend(data: RatingsData, methods: Sequence[str] = METHODS, content_encoder: str = "tfidf",
                       weights: dict[str, float] | None = None, seed: int = 0, k: int = 10,
                       cold_fraction: float = 0.1, validation: bool = False, half_life_days: float | None = None,
                       progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """({method: {precision@10, recall@10, ndcg@10, coverage@10, cold_recall@10, cold_ndcg@10}}, protocol).

    ``validation`` evaluates on a second seeded split of the training part (for choosing weights
    without looking at the test part).
    """
    methods = [ALIASES.get(m, m) for m in methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; use {list(METHODS)}")
    weights = weights or HYBRID_WEIGHTS
    train, test = split_per_user(data.ratings, seed=seed)
    if validation:
        train, test = split_per_user(train, seed=seed + 1)
    users = sorted(data.ratings["user"].unique())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        setup = _Setup(data, tmp, content_encoder, progress)
        n_items = len(setup.ids)
        rec = setup.fit_behaviour(train)
        train_m, test_m = setup.matrix(train, users), setup.matrix(test, users)
        relevant = [set(test_m.indices[test_m.indptr[u]:test_m.indptr[u + 1]].tolist()) for u in range(len(users))]
        hist, hw = _histories(train, users, setup.pos, half_life_days)
        for method in methods:
            top = top_k_ranked(_method_scores(method, rec, train_m, hist, hw, weights), train_m, k, seed)
            results[method] = ranking_metrics(top, relevant, n_items, k)

        # cold start: some items lose every training interaction
        rng = np.random.default_rng(seed)
        rated = np.flatnonzero(np.asarray(train_m.sum(axis=0)).ravel() > 0)
        cold = np.sort(rng.choice(rated, size=max(1, int(cold_fraction * len(rated))), replace=False))
        cold_ids = {setup.ids[i] for i in cold}
        warm_train = train[~train["item"].isin(cold_ids)]
        rec = setup.fit_behaviour(warm_train)
        warm_m = setup.matrix(warm_train, users)
        cold_set = set(cold.tolist())
        cold_relevant = [rel & cold_set for rel in relevant]
        hist, hw = _histories(warm_train, users, setup.pos, half_life_days)
        for method in methods:
            top = top_k_ranked(_method_scores(method, rec, warm_m, hist, hw, weights), None, k, seed, candidates=cold)
            m = ranking_metrics(top, cold_relevant, len(cold), k)
            results[method].update({f"cold_recall@{k}": m[f"recall@{k}"], f"cold_ndcg@{k}": m[f"ndcg@{k}"]})
        setup.col.close()
    protocol = {"dataset": data.name, "seed": seed, "split": "80/20 per user" + (
        ", validation part of train" if validation else ""), "users": len(users), "items": n_items,
        "content_encoder": content_encoder, "hybrid_weights": weights, "cold_items": len(cold),
        "cold_users": sum(1 for r in cold_relevant if r)}
    return results, protocol
