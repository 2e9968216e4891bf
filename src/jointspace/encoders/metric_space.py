"""Spaces to find nearest known examples in: the plain encoder, a metric learned from labels, a TF-IDF fusion,
and (the default of ``nearest``) a supervised space over that fusion.

``SpaceEncoder`` is an ordinary registry encoder (name ``"metric-space"``), so a collection can hold its
vectors and new examples are added without refitting anything:

- ``plain``: the base encoder's vectors as they are;
- ``nca``: a linear projection learned from the labelled examples by Neighbourhood Components Analysis
  (it maximises leave-one-out k-NN accuracy, i.e. pulls same-label examples together);
- ``fusion``: the base vectors and sparse TF-IDF vectors side by side, weighted so that the cosine of
  two items is ``w * cos_base + (1 - w) * cos_tfidf`` (exact keywords are back in play);
- ``supervised``: the fusion (TF-IDF of words and word pairs, stop words kept) plus a linear classifier's
  view of it: a logistic regression is fitted on the fused vectors of the labelled examples, and a
  text's vector is ``[sqrt(1 - b) * fused, sqrt(b) * p]`` with ``p`` the unit vector of its class
  probabilities (``b = supervised_weight``), so two texts are near when they share words and meaning
  *and* the classifier reads them alike. Examples with a label the classifier never saw (added later)
  still sit near their own kind through the fused half.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders import encoder as make_encoder
from jointspace.encoders import load_encoder
from jointspace.encoders.base import Encoder, check_texts, l2_normalise
from jointspace.errors import JointspaceError, NotFittedError

SPACES = ("plain", "nca", "fusion", "supervised")


class SpaceEncoder(Encoder):
    """A base encoder, optionally projected (``nca``) or fused with TF-IDF (``fusion``)."""

    name = "metric-space"
    modality = "text"
    trainable = True

    def __init__(self, base: str = "minilm", base_params: dict[str, Any] | None = None, space: str = "plain",
                 n_components: int = 64, fusion_weight: float = 0.5, tfidf_dim: int = 2048,
                 nca_max_examples: int = 2000, seed: int = 0, supervised_weight: float = 0.5,
                 supervised_c: float = 10.0) -> None:
        self.base = base
        self.base_params = base_params
        self.space = space
        self.n_components = n_components
        self.fusion_weight = fusion_weight
        self.tfidf_dim = tfidf_dim
        self.nca_max_examples = nca_max_examples
        self.seed = seed
        self.supervised_weight = supervised_weight
        self.supervised_c = supervised_c

    base_: Encoder | None = None
    tfidf_: Encoder | None = None
    components_: np.ndarray | None = None
    coef_: np.ndarray | None = None  # supervised: (classes, fused dim) and intercept_ (classes,)
    intercept_: np.ndarray | None = None
    classes_: list[str] | None = None
    memo: dict[str, np.ndarray] | None = None  # space vectors computed already (not saved)

    @property
    def dim(self) -> int:
        if self.space == "nca":
            return self.n_components if self.components_ is None else int(self.components_.shape[0])
        base_dim = self.base_.dim if self.base_ is not None else make_encoder(self.base, **(self.base_params or {})).dim
        extra = self.tfidf_dim if self.space in ("fusion", "supervised") else 0
        if self.space == "supervised":
            extra += self.n_classes
        return base_dim + extra

    @property
    def n_classes(self) -> int:
        """Width of the class-probability block of the supervised space (2 columns for 2 classes)."""
        return 0 if self.coef_ is None else max(int(self.coef_.shape[0]), 2)

    @property
    def is_fitted(self) -> bool:
        if self.base_ is None or (self.base_.trainable and not self.base_.is_fitted):
            return False
        if self.space == "nca":
            return self.components_ is not None
        if self.space == "supervised":
            return self.tfidf_ is not None and self.coef_ is not None
        return self.space != "fusion" or self.tfidf_ is not None

    def _check(self) -> None:
        if self.space not in SPACES:
            raise JointspaceError(f"unknown space {self.space!r}; use one of {', '.join(SPACES)}")
        for name in ("fusion_weight", "supervised_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise JointspaceError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    def fit(self, items: Iterable[str], labels: Sequence[Any] | None = None) -> SpaceEncoder:
        """Fit the base (when it learns), the TF-IDF vocabulary (fusion) or the projection (nca: needs labels)."""
        self._check()
        texts = check_texts(items)
        base = make_encoder(self.base, **(self.base_params or {}))
        if base.trainable:
            base.fit(texts)
        needs = self.space in ("nca", "supervised")
        return self.fit_from_vectors(base, base.encode(texts) if needs else None, texts, labels)

    def fit_from_vectors(self, base: Encoder, base_vectors: np.ndarray | None, texts: list[str],
                         labels: Sequence[Any] | None) -> SpaceEncoder:
        """Fit on base vectors already computed (by ``base``, fitted), so nothing is encoded twice."""
        self._check()
        self.base_ = base
        if self.space == "fusion":
            self.tfidf_ = make_encoder("tfidf", dim=self.tfidf_dim).fit(texts)
        if self.space == "supervised":
            if labels is None or len(labels) != len(texts):
                raise JointspaceError("the supervised space learns from labels: give one label per example")
            if len({str(label) for label in labels}) < 2:
                raise JointspaceError("the supervised space needs examples of at least two labels")
            assert base_vectors is not None
            self.tfidf_ = make_encoder("tfidf", dim=self.tfidf_dim, stop_words=None, ngram_range=(1, 2)).fit(texts)
            fused = self.fuse(base_vectors, texts)
            self._fit_linear(fused, [str(label) for label in labels])
        if self.space == "nca":
            if labels is None or len(labels) != len(texts):
                raise JointspaceError("the nca space learns from labels: give one label per example")
            assert base_vectors is not None
            self.components_ = fit_nca(base_vectors, labels, self.n_components, self.nca_max_examples, self.seed)
        return self

    def encode_base(self, texts: list[str]) -> np.ndarray:
        assert self.base_ is not None
        return self.base_.encode(texts)

    def fuse(self, base_vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """``[sqrt(w) * base, sqrt(1 - w) * tfidf]``: unit rows when both parts are."""
        assert self.tfidf_ is not None
        w = self.fusion_weight
        return np.hstack([np.sqrt(w) * base_vectors, np.sqrt(1 - w) * self.tfidf_.encode(texts)]).astype(np.float32)

    def _fit_linear(self, fused: np.ndarray, labels: list[str]) -> None:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.supervised_c, max_iter=2000, solver="newton-cg").fit(fused, labels)
        self.coef_ = model.coef_.astype(np.float32)
        self.intercept_ = model.intercept_.astype(np.float32)
        self.classes_ = [str(c) for c in model.classes_]

    def class_probabilities(self, fused: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities of the supervised space's classifier (two columns for two classes)."""
        assert self.coef_ is not None and self.intercept_ is not None
        z = fused @ self.coef_.T + self.intercept_
        if z.shape[1] == 1:
            z = np.hstack([-z, z]) / 2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def supervise(self, fused: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """The supervised space vector from fused vectors and class probabilities."""
        b = self.supervised_weight
        return l2_normalise(np.hstack([np.sqrt(1 - b) * fused, np.sqrt(b) * l2_normalise(proba)]))

    def held_out_vectors(self, base_vectors: np.ndarray, texts: list[str], labels: Sequence[Any], folds: int = 5
                         ) -> np.ndarray:
        """Supervised-space vectors of the training examples with out-of-fold class probabilities: each
        example is placed where the classifier would put it as a new text, not where it was fitted."""
        from sklearn.model_selection import StratifiedKFold

        fused = self.fuse(base_vectors, texts)
        y = np.array([str(label) for label in labels])
        proba = self.class_probabilities(fused)
        counts = min(np.unique(y, return_counts=True)[1])
        folds = min(folds, int(counts))
        if folds < 2:
            return self.supervise(fused, proba)
        saved = (self.coef_, self.intercept_, self.classes_)
        try:
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(fused, y):
                self._fit_linear(fused[tr], list(y[tr]))
                assert self.classes_ is not None and saved[2] is not None
                cols = [saved[2].index(c) for c in self.classes_]
                part = np.zeros((len(te), proba.shape[1]), dtype=proba.dtype)
                part[:, cols if len(saved[2]) > 2 else [0, 1]] = self.class_probabilities(fused[te])
                proba[te] = part
        finally:
            self.coef_, self.intercept_, self.classes_ = saved
        return self.supervise(fused, proba)

    def open_set_part(self, vectors: np.ndarray) -> np.ndarray:
        """The part of space vectors that says how *familiar* a text is, for ``unknown``: the base encoder's
        block of the supervised space as unit rows (class probabilities make every text look like some
        class, and shared function words make TF-IDF find every English text a little familiar), else the
        vectors themselves."""
        if self.space != "supervised":
            return vectors
        assert self.base_ is not None
        return l2_normalise(np.asarray(vectors)[:, : self.base_.dim])

    def project(self, base_vectors: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """Space vectors from base vectors already at hand (``texts`` are needed for fusion)."""
        if self.space == "plain":
            return base_vectors
        if self.space == "nca":
            assert self.components_ is not None
            return l2_normalise(base_vectors @ self.components_.T)
        assert self.tfidf_ is not None and texts is not None
        fused = self.fuse(base_vectors, texts)
        if self.space == "fusion":
            return fused
        return self.supervise(fused, self.class_probabilities(fused))

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError("the space must be fitted before encode")
        if self.memo is not None and all(t in self.memo for t in items):
            return np.stack([self.memo[t] for t in items])
        return self.project(self.encode_base(items), items)

    def _save_state(self, path: Path) -> None:
        if self.base_ is not None:
            self.base_.save(path / "base")
        if self.tfidf_ is not None:
            self.tfidf_.save(path / "tfidf")
        if self.components_ is not None:
            np.save(path / "components.npy", self.components_)
        if self.coef_ is not None:
            np.savez(path / "classifier.npz", coef=self.coef_, intercept=self.intercept_,
                     classes=np.array(self.classes_ or [], dtype=str))

    def _load_state(self, path: Path) -> None:
        if (path / "base").exists():
            self.base_ = load_encoder(path / "base")
        if (path / "tfidf").exists():
            self.tfidf_ = load_encoder(path / "tfidf")
        if (path / "components.npy").exists():
            self.components_ = np.load(path / "components.npy")
        if (path / "classifier.npz").exists():
            with np.load(path / "classifier.npz") as z:
                self.coef_, self.intercept_ = z["coef"], z["intercept"]
                self.classes_ = [str(c) for c in z["classes"]]


def fit_nca(vectors: np.ndarray, labels: Sequence[Any], n_components: int, max_examples: int = 2000,
            seed: int = 0) -> np.ndarray:
    """NCA projection matrix (n_components, dim), fitted on a stratified sample of at most ``max_examples``.

    NCA costs O(n^2) per iteration, so large example sets are subsampled; the projection is linear, so it
    applies to every example (and to ones added later) all the same.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    labels_arr = np.array([str(label) for label in labels])
    if len(set(labels_arr)) < 2:
        raise JointspaceError("the nca space needs examples of at least two labels")
    if len(vectors) > max_examples:
        counts = {c: int((labels_arr == c).sum()) for c in set(labels_arr)}
        stratify = labels_arr if min(counts.values()) >= 2 else None
        idx, _ = train_test_split(np.arange(len(vectors)), train_size=max_examples, stratify=stratify,
                                  random_state=seed)
        vectors, labels_arr = vectors[idx], labels_arr[idx]
    n_components = min(n_components, vectors.shape[1])
    nca = NeighborhoodComponentsAnalysis(n_components=n_components, init="pca", max_iter=60, random_state=seed)
    nca.fit(vectors, labels_arr)
    return nca.components_.astype(np.float32)
