"""Label a message by its nearest known examples (moderation, intents), with an open-set ``unknown``.

A nearest model is a collection (the examples, embedded in a ``SpaceEncoder`` space) plus
``nearest.json``: k, and the similarity below which a message is ``unknown``. That threshold is
calibrated on held-out examples: each example's best similarity to the examples of the other folds,
and the cut-off keeps ``accept_rate`` of them (or, given out-of-scope messages, the cut-off that best
separates the two). Adding examples is a collection write: nothing is refitted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from jointspace.collection import Collection, WriteReport
from jointspace.encoders import encoder as make_encoder
from jointspace.encoders.metric_space import SpaceEncoder
from jointspace.errors import JointspaceError
from jointspace.readers.records import Skipped
from jointspace.tasks.classify import labelled_rows, load_frame
from jointspace.tasks.modeldir import atomic_dir, read_manifest, write_json
from jointspace.version import __version__

UNKNOWN = "unknown"
MANIFEST = "nearest.json"
KIND = "jointspace-nearest"
FORMAT = 1
Progress = Callable[[int], None]


def knn_vote(sims: np.ndarray, labels: Sequence[Any]) -> tuple[Any, float]:
    """Similarity-weighted vote of one query's neighbours: (label, its share of the weight)."""
    weights: dict[Any, float] = {}
    for s, label in zip(sims, labels, strict=True):
        weights[label] = weights.get(label, 0.0) + max(float(s), 0.0) + 1e-6
    label = max(weights, key=lambda key: weights[key])
    return label, weights[label] / sum(weights.values())


def knn_predict(train: np.ndarray, labels: Sequence[Any], queries: np.ndarray, k: int = 10
                ) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """(voted labels, vote shares, best similarities) of each query against unit vectors ``train``."""
    sims = queries @ train.T
    k = min(k, train.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    out, shares = [], np.zeros(len(queries))
    for i, row in enumerate(top):
        label, shares[i] = knn_vote(sims[i, row], [labels[j] for j in row])
        out.append(label)
    return out, shares, sims.max(axis=1)


def held_out_best(vectors: np.ndarray, labels: Sequence[Any], k: int, folds: int, seed: int
                  ) -> tuple[np.ndarray, list[Any]]:
    """Each example's best similarity to, and k-NN label from, the examples outside its fold."""
    best = np.zeros(len(vectors))
    predicted: list[Any] = [None] * len(vectors)
    for train_idx, test_idx in KFold(folds, shuffle=True, random_state=seed).split(vectors):
        voted, _, top = knn_predict(vectors[train_idx], [labels[j] for j in train_idx], vectors[test_idx], k)
        best[test_idx] = top
        for j, label in zip(test_idx, voted, strict=True):
            predicted[j] = label
    return best, predicted


def calibrate_threshold(in_scope: np.ndarray, out_scope: np.ndarray | None, accept_rate: float) -> float:
    """The unknown cut-off: keep ``accept_rate`` of in-scope messages, or best separate in/out of scope."""
    if out_scope is None or not len(out_scope):
        return float(np.quantile(in_scope, 1.0 - accept_rate))
    candidates = np.unique(np.concatenate([in_scope, out_scope]))
    balanced = [(np.mean(in_scope >= c) + np.mean(out_scope < c)) / 2 for c in candidates]
    return float(candidates[int(np.argmax(balanced))])


def example_id(text: str, label: Any) -> str:
    return hashlib.sha1(f"{label}\x00{text}".encode()).hexdigest()[:16]


def train_nearest(data: Any, out_dir: str | Path, text_field: str = "text", label_field: str = "label",
                  encoder: str = "minilm", encoder_params: dict[str, Any] | None = None, space: str = "plain",
                  k: int = 10, accept_rate: float = 0.95, folds: int = 5, outliers: Sequence[str] | None = None,
                  seed: int = 0, progress: Progress | None = None, **space_params: Any) -> dict[str, Any]:
    """Fit the space, calibrate the unknown threshold, and write the examples as a collection."""
    if not 0.0 < accept_rate <= 1.0:
        raise JointspaceError(f"accept rate must lie in (0, 1], got {accept_rate}")
    frame, skipped = load_frame(data)
    frame, labels, bad = labelled_rows(frame, text_field, label_field)
    skipped += bad
    if UNKNOWN in {str(label) for label in labels}:
        raise JointspaceError(f"{UNKNOWN!r} is reserved for out-of-scope messages; rename that label")
    if len(frame) < max(folds, 2):
        raise JointspaceError(f"{len(frame)} usable example(s); at least {max(folds, 2)} are needed")
    texts = [str(t) for t in frame[text_field]]
    enc = SpaceEncoder(base=encoder, base_params=encoder_params, space=space, seed=seed, **space_params)
    base = make_encoder(encoder, **(encoder_params or {}))
    if base.trainable:
        base.fit(texts)
    base_vectors = _encode_in_chunks(base, texts, progress)
    enc.fit_from_vectors(base, base_vectors, texts, labels)
    vectors = enc.project(base_vectors, texts)
    best, predicted = held_out_best(vectors, labels, k, folds, seed)
    out_best = None
    if outliers:
        out_vectors = enc.encode(list(outliers))
        out_best = (out_vectors @ vectors.T).max(axis=1)
    threshold = calibrate_threshold(best, out_best, accept_rate)
    calibration = {
        "held_out_accuracy": float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)])),
        "held_out_accepted": float(np.mean(best >= threshold)),
        "outliers_rejected": None if out_best is None else float(np.mean(out_best < threshold)),
        "folds": folds, "accept_rate": accept_rate,
    }
    with atomic_dir(out_dir, MANIFEST) as tmp:
        enc.memo = dict(zip(texts, vectors, strict=True))
        col = Collection.create(tmp, encoder=enc, fields=[text_field], id_field="id")
        records = ({"id": example_id(t, label), text_field: t, label_field: label}
                   for t, label in zip(texts, labels, strict=True))
        report = col.upsert(records)
        count = len(col)
        col.close()
        enc.memo = None
        manifest = {"format": FORMAT, "kind": KIND, "jointspace": __version__,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "text_field": text_field, "label_field": label_field, "k": k, "threshold": threshold,
                    "space": enc.get_params(), "labels": sorted({str(label) for label in labels}),
                    "calibration": calibration, "examples": count,
                    "skipped": [str(s) for s in skipped + report.skipped]}
        write_json(tmp / MANIFEST, manifest)
    return manifest


def _encode_in_chunks(enc: Any, texts: list[str], progress: Progress | None, chunk: int = 256) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(enc.encode(texts[start:start + chunk]))
        if progress:
            progress(len(parts[-1]))
    return np.vstack(parts)


class NearestModel:
    """A trained nearest-examples directory: ``predict`` messages, ``add`` examples."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(path, MANIFEST, KIND, FORMAT)
        self.collection = Collection.open(path)
        self.k: int = self.manifest["k"]
        self.threshold: float = self.manifest["threshold"]

    def close(self) -> None:
        self.collection.close()

    def predict(self, texts: Sequence[Any], neighbours: int = 3) -> list[dict[str, Any]]:
        """One dict per message in order: label (or ``unknown``), vote share, best similarity, neighbours."""
        results: list[dict[str, Any]] = [{} for _ in texts]
        good = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        for i in set(range(len(texts))) - set(good):
            results[i] = {"label": None, "score": None, "neighbours": [], "error": f"message {i + 1}: empty text"}
        text_field, label_field = self.manifest["text_field"], self.manifest["label_field"]
        hits = self.collection.search_batch([texts[i] for i in good], k=self.k) if good else []
        for i, row in zip(good, hits, strict=True):
            sims = [h.score for h in row]
            label, share = knn_vote(sims, [h.fields.get(label_field) for h in row]) if row else (None, 0.0)
            best = max(sims) if sims else -1.0
            results[i] = {
                "label": label if best >= self.threshold else UNKNOWN,
                "score": round(share, 6), "similarity": round(best, 6), "nearest_label": label,
                "neighbours": [{"text": h.fields.get(text_field), "label": h.fields.get(label_field),
                                "similarity": round(h.score, 4)} for h in row[:neighbours]],
            }
        return results

    def add(self, data: Any, text_field: str | None = None, label_field: str | None = None) -> WriteReport:
        """New examples, searchable at once; nothing is refitted. Duplicates (same text and label) are skipped."""
        text_field = text_field or self.manifest["text_field"]
        label_field = label_field or self.manifest["label_field"]
        frame, skipped = load_frame(data)
        frame, labels, bad = labelled_rows(frame, text_field, label_field)
        stored_text, stored_label = self.manifest["text_field"], self.manifest["label_field"]
        records = [{"id": example_id(str(t), label), stored_text: str(t), stored_label: label}
                   for t, label in zip(frame[text_field], labels, strict=True)]
        report = self.collection.add(records)
        report.skipped = list(skipped) + list(bad) + [Skipped(s.where, s.reason) for s in report.skipped]
        new_labels = sorted(set(self.manifest["labels"]) | {str(label) for label in labels})
        if new_labels != self.manifest["labels"]:
            self.manifest["labels"] = new_labels
        self.manifest["examples"] = len(self.collection)
        write_json(self.path / MANIFEST, self.manifest)
        return report
