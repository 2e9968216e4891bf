"""A 2-D map of a collection (PCA or t-SNE) coloured by a field, and k-means clusters with their top terms."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.collection import Collection
from jointspace.errors import JointspaceError

METHODS = ("pca", "tsne")


@dataclass
class MapData:
    ids: list[str]
    vectors: np.ndarray
    fields: list[dict[str, Any]]
    texts: list[str]


def load_map_data(path: str | Path, limit: int | None = None, seed: int = 0) -> MapData:
    """Ids, vectors, fields and embedded text of a collection (a seeded sample of ``limit`` items)."""
    col = Collection.open(path)
    try:
        ids = col.ids()
        if not ids:
            raise JointspaceError(f"{path}: the collection is empty, nothing to map")
        if limit and len(ids) > limit:
            rng = np.random.default_rng(seed)
            ids = [ids[i] for i in sorted(rng.choice(len(ids), limit, replace=False))]
        fields = [col.get(i) for i in ids]
        texts = [" ".join(str(f.get(name, "")) for name in col.fields) for f in fields]
        return MapData(ids, col.vectors(ids), fields, texts)
    finally:
        col.close()


def project_2d(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, 2) coordinates; t-SNE runs on the first 50 principal components."""
    from sklearn.decomposition import PCA

    if method not in METHODS:
        raise JointspaceError(f"unknown map method {method!r}; use one of {', '.join(METHODS)}")
    if len(vectors) < 3:
        raise JointspaceError(f"{len(vectors)} item(s): a map needs at least 3")
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(vectors)
    from sklearn.manifold import TSNE

    reduced = PCA(min(50, vectors.shape[1], len(vectors) - 1), random_state=seed).fit_transform(vectors)
    return TSNE(2, perplexity=min(30.0, (len(vectors) - 1) / 3), init="pca", random_state=seed).fit_transform(reduced)


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    if k < 1 or k > len(vectors):
        raise JointspaceError(f"k must lie in 1..{len(vectors)} (the number of items), got {k}")
    return KMeans(k, n_init=4, random_state=seed).fit_predict(vectors)


def top_terms(texts: list[str], clusters: np.ndarray, n: int = 8) -> list[list[str]]:
    """Each cluster's most characteristic words: class-based TF-IDF (a term frequent here, rare elsewhere)."""
    from sklearn.feature_extraction.text import CountVectorizer

    k = int(clusters.max()) + 1
    try:
        counts = CountVectorizer(stop_words="english", min_df=2, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
        matrix = counts.fit_transform(texts)
    except ValueError:  # no word occurs twice
        return [[] for _ in range(k)]
    terms = counts.get_feature_names_out()
    per_cluster = np.vstack([np.asarray(matrix[clusters == c].sum(axis=0)).ravel() for c in range(k)])
    tf = per_cluster / np.maximum(per_cluster.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + per_cluster.sum(axis=1).mean() / np.maximum(per_cluster.sum(axis=0), 1))
    score = tf * idf
    return [[str(terms[j]) for j in np.argsort(-score[c])[:n] if per_cluster[c, j] > 0] for c in range(k)]


def draw_map(xy: np.ndarray, values: list[Any], clusters: np.ndarray, terms: list[list[str]], field: str,
             path: str | Path, title: str = "") -> Path:
    """Two panels: coloured by ``field`` (at most 12 most common values, the rest grey) and by cluster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6), dpi=110)
    common = [v for v, _ in Counter(map(str, values)).most_common(12)]
    shown = np.array([str(v) if str(v) in common else "(other)" for v in values])
    cmap = plt.get_cmap("tab20" if len(common) > 10 else "tab10")
    for i, value in enumerate(common + ["(other)"]):
        mask = shown == value
        if mask.any():
            colour = "lightgrey" if value == "(other)" else cmap(i % cmap.N)
            axes[0].scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.6, color=colour, label=f"{value} ({mask.sum()})")
    axes[0].legend(markerscale=3, fontsize=8, title=field)
    axes[0].set_title(f"coloured by {field}")
    cmap = plt.get_cmap("tab20")
    for c in range(int(clusters.max()) + 1):
        mask = clusters == c
        axes[1].scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.6, color=cmap(c % 20),
                        label=f"{c}: {', '.join(terms[c][:3])}")
    axes[1].legend(markerscale=3, fontsize=7, title="k-means: top terms")
    axes[1].set_title("k-means clusters")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def make_map(collection: str | Path, color_by: str, out: str | Path, method: str = "pca", k: int = 8,
             limit: int | None = 5000, seed: int = 0, terms: int = 8) -> dict[str, Any]:
    """Map and clusters of a collection; returns the clusters (size, top terms, share of each field value)."""
    data = load_map_data(collection, limit, seed)
    missing = sum(1 for f in data.fields if f.get(color_by) is None)
    if missing == len(data.fields):
        known = sorted({key for f in data.fields for key in f})
        raise JointspaceError(f"no item has the field {color_by!r} (fields: {', '.join(known)})")
    values = [f.get(color_by, "(missing)") for f in data.fields]
    xy = project_2d(data.vectors, method, seed)
    clusters = kmeans(data.vectors, min(k, len(data.vectors)), seed)
    words = top_terms(data.texts, clusters, terms)
    draw_map(xy, values, clusters, words, color_by, out, f"{Path(collection).name}: {method.upper()}, "
             f"{len(data.ids)} items")
    summary = []
    for c in range(int(clusters.max()) + 1):
        members = [str(values[i]) for i in np.flatnonzero(clusters == c)]
        summary.append({"cluster": c, "size": len(members), "top_terms": words[c],
                        color_by: {v: n for v, n in Counter(members).most_common(5)}})
    return {"items": len(data.ids), "method": method, "map": str(out), "clusters": summary}
