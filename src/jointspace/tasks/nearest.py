"""Label a message by its nearest known examples (moderation, intents), with an optional open-set ``unknown``.

A nearest model is a collection (the examples, embedded in a ``SpaceEncoder`` space) plus
``nearest.json``: k, the vote, and (only when asked) the similarity below which a message is ``unknown``.

Defaults, chosen by measurement (bench/nearest_quality.py, docs/benchmarks.md "Quality vs baselines"):
the ``supervised`` space (MiniLM fused with word + word-pair TF-IDF, plus a logistic regression's class
probabilities), and k and the vote weighting chosen by 5-fold cross-validation over ``K_GRID`` x
``VOTES`` at train time. The stored examples carry out-of-fold class probabilities, so a new message
and a stored example are placed alike.

``unknown`` is off unless asked for: with ``accept_rate`` the cut-off keeps that share of held-out
in-scope examples (each example's best similarity to the examples of the other folds); with
out-of-scope messages (``outliers``) it is the cut-off that best separates the two. Adding examples is
a collection write: nothing is refitted.
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
SPACE = "supervised"
K_GRID = (1, 3, 5, 10, 20, 30)
VOTES = ("similarity", "uniform", "softmax")
SOFTMAX_TEMPERATURE = 0.05


def vote_weights(sims: np.ndarray, vote: str = "similarity") -> np.ndarray:
    """Each neighbour's weight in the vote: its similarity (>= 0), 1, or exp(similarity / 0.05)."""
    sims = np.asarray(sims, dtype=np.float64)
    if vote == "uniform":
        return np.ones_like(sims)
    if vote == "softmax":
        return np.exp((sims - sims.max(initial=0.0)) / SOFTMAX_TEMPERATURE) + 1e-12
    if vote == "similarity":
        return np.maximum(sims, 0.0) + 1e-6
    raise JointspaceError(f"unknown vote {vote!r}; use one of {', '.join(VOTES)}")


def knn_vote(sims: np.ndarray, labels: Sequence[Any], vote: str = "similarity") -> tuple[Any, float]:
    """Weighted vote of one query's neighbours: (label, its share of the weight); ties go to the nearest."""
    weights: dict[Any, float] = {}
    for w, label in zip(vote_weights(sims, vote), labels, strict=True):
        weights[label] = weights.get(label, 0.0) + float(w)
    label = max(weights, key=lambda key: weights[key])
    return label, weights[label] / sum(weights.values())


def knn_predict(train: np.ndarray, labels: Sequence[Any], queries: np.ndarray, k: int = 10,
                vote: str = "similarity") -> tuple[list[Any], np.ndarray, np.ndarray]:
    """(voted labels, vote shares, best similarities) of each query against unit vectors ``train``."""
    sims = queries @ train.T
    k = min(k, train.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    out, shares = [], np.zeros(len(queries))
    for i, row in enumerate(top):
        row = row[np.argsort(-sims[i, row], kind="stable")]
        label, shares[i] = knn_vote(sims[i, row], [labels[j] for j in row], vote)
        out.append(label)
    return out, shares, sims.max(axis=1)


def held_out_best(vectors: np.ndarray, labels: Sequence[Any], k: int, folds: int, seed: int,
                  vote: str = "similarity") -> tuple[np.ndarray, list[Any]]:
    """Each example's best similarity to, and k-NN label from, the examples outside its fold."""
    best = np.zeros(len(vectors))
    predicted: list[Any] = [None] * len(vectors)
    for train_idx, test_idx in KFold(folds, shuffle=True, random_state=seed).split(vectors):
        voted, _, top = knn_predict(vectors[train_idx], [labels[j] for j in train_idx], vectors[test_idx], k, vote)
        best[test_idx] = top
        for j, label in zip(test_idx, voted, strict=True):
            predicted[j] = label
    return best, predicted


def choose_vote(vectors: np.ndarray, labels: Sequence[Any], folds: int, seed: int,
                ks: Sequence[int] = K_GRID, votes: Sequence[str] = VOTES) -> dict[str, Any]:
    """k and vote weighting with the best held-out accuracy (k-fold over the examples; ties: smaller k).

    One similarity matrix per fold serves every (k, vote); returns the choice and the whole table.
    """
    y = [str(label) for label in labels]
    ks = sorted({min(k, max(1, len(y) - len(y) // folds - 1)) for k in ks})
    hits = {(k, v): 0 for k in ks for v in votes}
    for train_idx, test_idx in KFold(folds, shuffle=True, random_state=seed).split(vectors):
        sims = vectors[test_idx] @ vectors[train_idx].T
        kmax = min(max(ks), len(train_idx))
        top = np.argpartition(-sims, kmax - 1, axis=1)[:, :kmax]
        for i, row in enumerate(top):
            row = row[np.argsort(-sims[i, row], kind="stable")]
            truth = y[test_idx[i]]
            for k in ks:
                neighbours = [y[train_idx[j]] for j in row[:k]]
                for v in votes:
                    hits[(k, v)] += knn_vote(sims[i, row[:k]], neighbours, v)[0] == truth
    table = [{"k": k, "vote": v, "accuracy": round(hits[(k, v)] / len(y), 4)} for k in ks for v in votes]
    best = max(table, key=lambda row: (row["accuracy"], -row["k"], row["vote"] == "similarity"))
    return {"k": best["k"], "vote": best["vote"], "held_out_accuracy": best["accuracy"], "folds": folds,
            "grid": table}


def calibrate_threshold(in_scope: np.ndarray, out_scope: np.ndarray | None, accept_rate: float) -> float:
    """The unknown cut-off: keep ``accept_rate`` of in-scope messages, or best separate in/out of scope."""
    if out_scope is None or not len(out_scope):
        return float(np.quantile(in_scope, 1.0 - accept_rate))
    candidates = np.unique(np.concatenate([in_scope, out_scope]))
    balanced = [(np.mean(in_scope >= c) + np.mean(out_scope < c)) / 2 for c in candidates]
    return float(candidates[int(np.argmax(balanced))])


def example_id(text: str, label: Any) -> str:
    return hashlib.sha1(f"{label}\x00{text}".encode()).hexdigest()[:16]


def fit_space(texts: list[str], labels: list[Any], encoder: str = "minilm",
              encoder_params: dict[str, Any] | None = None, space: str = SPACE, seed: int = 0,
              progress: Progress | None = None, base_vectors: np.ndarray | None = None,
              **space_params: Any) -> tuple[SpaceEncoder, np.ndarray]:
    """The fitted space and the examples' vectors in it (out-of-fold class probabilities: supervised).

    ``base_vectors``: the base encoder's vectors of ``texts`` when already at hand (a benchmark's cache).
    """
    enc = SpaceEncoder(base=encoder, base_params=encoder_params, space=space, seed=seed, **space_params)
    base = make_encoder(encoder, **(encoder_params or {}))
    if base.trainable:
        base.fit(texts)
    if base_vectors is None:
        base_vectors = _encode_in_chunks(base, texts, progress)
    enc.fit_from_vectors(base, base_vectors, texts, labels)
    if enc.space == "supervised":
        return enc, enc.held_out_vectors(base_vectors, texts, labels)
    return enc, enc.project(base_vectors, texts)


def train_nearest(data: Any, out_dir: str | Path, text_field: str = "text", label_field: str = "label",
                  encoder: str = "minilm", encoder_params: dict[str, Any] | None = None, space: str = SPACE,
                  k: int | None = None, vote: str | None = None, accept_rate: float | None = None, folds: int = 5,
                  outliers: Sequence[str] | None = None, seed: int = 0, progress: Progress | None = None,
                  **space_params: Any) -> dict[str, Any]:
    """Fit the space, choose k and the vote, calibrate ``unknown`` if asked, write the examples as a collection.

    ``k`` / ``vote`` given are used as they are; None chooses them by cross-validation (``choose_vote``).
    ``unknown`` is never answered unless ``accept_rate`` or ``outliers`` is given.
    """
    if accept_rate is not None and not 0.0 < accept_rate <= 1.0:
        raise JointspaceError(f"accept rate must lie in (0, 1], got {accept_rate}")
    if vote is not None and vote not in VOTES:
        raise JointspaceError(f"unknown vote {vote!r}; use one of {', '.join(VOTES)}")
    if k is not None and k < 1:
        raise JointspaceError(f"k must be at least 1, got {k}")
    frame, skipped = load_frame(data)
    frame, labels, bad = labelled_rows(frame, text_field, label_field)
    skipped += bad
    if UNKNOWN in {str(label) for label in labels}:
        raise JointspaceError(f"{UNKNOWN!r} is reserved for out-of-scope messages; rename that label")
    if len(frame) < max(folds, 2):
        raise JointspaceError(f"{len(frame)} usable example(s); at least {max(folds, 2)} are needed")
    texts = [str(t) for t in frame[text_field]]
    enc, vectors = fit_space(texts, labels, encoder, encoder_params, space, seed, progress, **space_params)
    choice = choose_vote(vectors, labels, folds, seed, ks=K_GRID if k is None else (k,),
                         votes=VOTES if vote is None else (vote,))
    k, vote = int(choice["k"]), str(choice["vote"])
    threshold, out_best = None, None
    familiar = enc.open_set_part(vectors)
    best, _ = held_out_best(familiar, labels, k, folds, seed, vote)
    if outliers:
        out_best = (enc.open_set_part(enc.encode(list(outliers))) @ familiar.T).max(axis=1)
    if outliers or accept_rate is not None:
        threshold = calibrate_threshold(best, out_best, 0.95 if accept_rate is None else accept_rate)
    calibration = {
        "held_out_accuracy": choice["held_out_accuracy"],
        "held_out_accepted": 1.0 if threshold is None else float(np.mean(best >= threshold)),
        "outliers_rejected": None if out_best is None else float(np.mean(out_best < threshold)),
        "folds": folds, "accept_rate": accept_rate, "k_grid": choice["grid"],
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
                    "text_field": text_field, "label_field": label_field, "k": k, "vote": vote,
                    "threshold": threshold,
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
        self.vote: str = self.manifest.get("vote", "similarity")
        self.threshold: float | None = self.manifest["threshold"]
        self._familiar: np.ndarray | None = None

    def close(self) -> None:
        self.collection.close()

    def predict(self, texts: Sequence[Any], neighbours: int = 3) -> list[dict[str, Any]]:
        """One dict per message in order: label (or ``unknown``), vote share, best similarity, neighbours."""
        results: list[dict[str, Any]] = [{} for _ in texts]
        good = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        for i in set(range(len(texts))) - set(good):
            results[i] = {"label": None, "score": None, "neighbours": [], "error": f"message {i + 1}: empty text"}
        text_field, label_field = self.manifest["text_field"], self.manifest["label_field"]
        queries = self.collection.embed_queries([texts[i] for i in good]) if good else np.zeros((0, 1))
        hits = self.collection.search_batch(list(queries), k=self.k) if good else []
        familiar = self._familiarity(queries) if good and self.threshold is not None else None
        vote = self._vote()
        for n, (i, row) in enumerate(zip(good, hits, strict=True)):
            sims = [h.score for h in row]
            label, share = knn_vote(np.array(sims), [h.fields.get(label_field) for h in row], vote) \
                if row else (None, 0.0)
            best = float(familiar[n]) if familiar is not None else (max(sims) if sims else -1.0)
            known = self.threshold is None or best >= self.threshold
            results[i] = {
                "label": label if known else UNKNOWN,
                "score": round(share, 6), "similarity": round(best, 6), "nearest_label": label,
                "neighbours": [{"text": h.fields.get(text_field), "label": h.fields.get(label_field),
                                "similarity": round(h.score, 4)} for h in row[:neighbours]],
            }
        return results

    def _vote(self) -> str:
        """The chosen vote; ``softmax`` (the nearest examples decide) once examples of a label the supervised
        space never saw were added: a new label has few examples, and k was chosen for the trained ones."""
        known = getattr(self.collection.encoder, "classes_", None)
        if known and set(self.manifest["labels"]) - set(known):
            return "softmax"
        return self.vote

    def _familiarity(self, queries: np.ndarray) -> np.ndarray:
        """Each query's best similarity to any stored example in the space's open-set part (what the
        ``unknown`` threshold was calibrated on)."""
        enc = self.collection.encoder
        part = getattr(enc, "open_set_part", None)
        if part is None or getattr(enc, "space", None) != "supervised":
            if len(self.collection) == 0:
                return np.full(len(queries), -1.0)
            return np.asarray(queries @ self.collection.vectors(self.collection.ids()).T).max(axis=1)
        if self._familiar is None or len(self._familiar) != len(self.collection):
            self._familiar = part(self.collection.vectors(self.collection.ids()))
        return (part(queries) @ self._familiar.T).max(axis=1)

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


def linear_svc_baseline(train_texts: list[str], train_labels: list[str], test_texts: list[str]) -> list[str]:
    """The strong simple baseline: TF-IDF of words and word pairs (sublinear tf) + a linear SVM (C = 1)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
    model = LinearSVC(C=1.0).fit(vectorizer.fit_transform(train_texts), train_labels)
    return [str(p) for p in model.predict(vectorizer.transform(test_texts))]


def evaluate_nearest(texts: Sequence[str], labels: Sequence[Any], folds: int = 5, seed: int = 0,
                     outliers: Sequence[str] | None = None, encoder: str = "minilm",
                     encoder_params: dict[str, Any] | None = None, space: str = SPACE, k: int | None = None,
                     vote: str | None = None, accept_rate: float | None = None, baseline: bool = True,
                     base_vectors: np.ndarray | None = None, outlier_vectors: np.ndarray | None = None,
                     **space_params: Any) -> dict[str, Any]:
    """Stratified k-fold figures of nearest-example labelling, as ``train_nearest`` would fit it.

    In each fold the space, k and the vote are fitted on the training part only. In-scope accuracy is
    over every test message (``unknown`` off). With ``outliers`` (or ``accept_rate``) the ``unknown``
    cut-off is calibrated on the training part and half of the outliers (seeded), then measured on the
    test part (share accepted, accuracy of the accepted) and on the other half (share rejected).
    ``baseline`` adds TF-IDF + LinearSVC on the same folds. ``base_vectors`` / ``outlier_vectors``: the base
    encoder's vectors when already at hand (a benchmark's cache).
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    texts = [str(t) for t in texts]
    y = np.array([str(label) for label in labels])
    if len(set(y)) < 2:
        raise JointspaceError("evaluation needs examples of at least two labels")
    small = min(np.unique(y, return_counts=True)[1])
    if small < folds:
        raise JointspaceError(f"a label has {small} example(s); {folds}-fold cross-validation needs {folds}")
    base = make_encoder(encoder, **(encoder_params or {}))
    if base_vectors is None and not base.trainable:
        base_vectors = _encode_in_chunks(base, texts, None)
    out_texts = [str(t) for t in outliers or []]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(out_texts))
    calib, test_out = order[: len(order) // 2], order[len(order) // 2:]
    if out_texts and outlier_vectors is None and not base.trainable:
        outlier_vectors = _encode_in_chunks(base, out_texts, None)
    pred = np.empty(len(y), dtype=object)
    svc = np.empty(len(y), dtype=object)
    chosen, accepted, rejected, kept_acc = [], [], [], []
    start = time.perf_counter()
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y):
        tr_texts, te_texts = [texts[i] for i in tr], [texts[i] for i in te]
        enc, vectors = fit_space(tr_texts, list(y[tr]), encoder, encoder_params, space, seed,
                                 base_vectors=None if base_vectors is None else base_vectors[tr], **space_params)
        choice = choose_vote(vectors, list(y[tr]), folds, seed, ks=K_GRID if k is None else (k,),
                             votes=VOTES if vote is None else (vote,))
        chosen.append((choice["k"], choice["vote"]))
        te_base = enc.encode_base(te_texts) if base_vectors is None else base_vectors[te]
        te_vectors = enc.project(te_base, te_texts)
        voted, _, best = knn_predict(vectors, list(y[tr]), te_vectors, choice["k"], choice["vote"])
        pred[te] = voted
        if baseline:
            svc[te] = linear_svc_baseline(tr_texts, list(y[tr]), te_texts)
        if out_texts or accept_rate is not None:
            familiar = enc.open_set_part(vectors)
            held, _ = held_out_best(familiar, list(y[tr]), choice["k"], folds, seed, choice["vote"])
            best = (enc.open_set_part(te_vectors) @ familiar.T).max(axis=1)
            out_best = None
            if out_texts:
                o_base = enc.encode_base(out_texts) if outlier_vectors is None else outlier_vectors
                o_vectors = enc.open_set_part(enc.project(o_base, out_texts))
                out_best = (o_vectors @ familiar.T).max(axis=1)
            cut = calibrate_threshold(held, None if out_best is None else out_best[calib],
                                      0.95 if accept_rate is None else accept_rate)
            keep = best >= cut
            accepted.append(float(np.mean(keep)))
            kept_acc.append(float(np.mean(np.array(voted)[keep] == y[te][keep])) if keep.any() else 0.0)
            if out_best is not None:
                rejected.append(float(np.mean(out_best[test_out] < cut)))
    result: dict[str, Any] = {
        "examples": len(y), "labels": sorted(set(y)), "folds": folds, "space": space, "encoder": encoder,
        "accuracy": round(float(np.mean(pred == y)), 4),
        "macro_f1": round(float(f1_score(y, pred.astype(str), average="macro")), 4),
        "chosen": [{"k": c[0], "vote": c[1]} for c in chosen],
        "seconds": round(time.perf_counter() - start, 1),
    }
    if baseline:
        result["tfidf_linearsvc_accuracy"] = round(float(np.mean(svc == y)), 4)
        result["tfidf_linearsvc_macro_f1"] = round(float(f1_score(y, svc.astype(str), average="macro")), 4)
    if accepted:
        result["in_scope_accepted"] = round(float(np.mean(accepted)), 4)
        result["accuracy_of_accepted"] = round(float(np.mean(kept_acc)), 4)
    if rejected:
        result["out_of_scope_rejected"] = round(float(np.mean(rejected)), 4)
        result["outliers"] = {"calibrate": len(calib), "test": len(test_out)}
    return result
