"""Spaces to find nearest known examples in: the plain encoder, a metric learned from labels, a TF-IDF fusion.

``SpaceEncoder`` is an ordinary registry encoder (name ``"metric-space"``), so a collection can hold its
vectors and new examples are added without refitting anything:

- ``plain``: the base encoder's vectors as they are;
- ``nca``: a linear projection learned from the labelled examples by Neighbourhood Components Analysis
  (it maximises leave-one-out k-NN accuracy, i.e. pulls same-label examples together);
- ``fusion``: the base vectors and sparse TF-IDF vectors side by side, weighted so that the cosine of
  two items is ``w * cos_base + (1 - w) * cos_tfidf`` (exact keywords are back in play).
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

SPACES = ("plain", "nca", "fusion")


class SpaceEncoder(Encoder):
    """A base encoder, optionally projected (``nca``) or fused with TF-IDF (``fusion``)."""

    name = "metric-space"
    modality = "text"
    trainable = True

    def __init__(self, base: str = "minilm", base_params: dict[str, Any] | None = None, space: str = "plain",
                 n_components: int = 64, fusion_weight: float = 0.5, tfidf_dim: int = 2048,
                 nca_max_examples: int = 2000, seed: int = 0) -> None:
        self.base = base
        self.base_params = base_params
        self.space = space
        self.n_components = n_components
        self.fusion_weight = fusion_weight
        self.tfidf_dim = tfidf_dim
        self.nca_max_examples = nca_max_examples
        self.seed = seed

    base_: Encoder | None = None
    tfidf_: Encoder | None = None
    components_: np.ndarray | None = None
    memo: dict[str, np.ndarray] | None = None  # space vectors computed already (not saved)

    def _validate(self) -> None:
        if self.space not in SPACES:
            raise JointspaceError(f"unknown space {self.space!r}; use one of {', '.join(SPACES)}")
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise JointspaceError(f"fusion_weight must lie in [0, 1], got {self.fusion_weight}")

    @property
    def dim(self) -> int:
        if self.space == "nca":
            return self.n_components if self.components_ is None else int(self.components_.shape[0])
        base_dim = self.base_.dim if self.base_ is not None else make_encoder(self.base, **(self.base_params or {})).dim
        return base_dim + (self.tfidf_dim if self.space == "fusion" else 0)

    @property
    def is_fitted(self) -> bool:
        if self.base_ is None or (self.base_.trainable and not self.base_.is_fitted):
            return False
        if self.space == "nca":
            return self.components_ is not None
        return self.space != "fusion" or self.tfidf_ is not None

    def fit(self, items: Iterable[str], labels: Sequence[Any] | None = None) -> SpaceEncoder:
        """Fit the base (when it learns), the TF-IDF vocabulary (fusion) or the projection (nca: needs labels)."""
        self._validate()
        texts = check_texts(items)
        base = make_encoder(self.base, **(self.base_params or {}))
        if base.trainable:
            base.fit(texts)
        return self.fit_from_vectors(base, base.encode(texts) if self.space == "nca" else None, texts, labels)

    def fit_from_vectors(self, base: Encoder, base_vectors: np.ndarray | None, texts: list[str],
                         labels: Sequence[Any] | None) -> SpaceEncoder:
        """Fit on base vectors already computed (by ``base``, fitted), so nothing is encoded twice."""
        self._validate()
        self.base_ = base
        if self.space == "fusion":
            self.tfidf_ = make_encoder("tfidf", dim=self.tfidf_dim).fit(texts)
        if self.space == "nca":
            if labels is None or len(labels) != len(texts):
                raise JointspaceError("the nca space learns from labels: give one label per example")
            assert base_vectors is not None
            self.components_ = fit_nca(base_vectors, labels, self.n_components, self.nca_max_examples, self.seed)
        return self

    def encode_base(self, texts: list[str]) -> np.ndarray:
        assert self.base_ is not None
        return self.base_.encode(texts)

    def project(self, base_vectors: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """Space vectors from base vectors already at hand (``texts`` are needed for fusion)."""
        if self.space == "plain":
            return base_vectors
        if self.space == "nca":
            assert self.components_ is not None
            return l2_normalise(base_vectors @ self.components_.T)
        assert self.tfidf_ is not None and texts is not None
        w = self.fusion_weight
        return np.hstack([np.sqrt(w) * base_vectors, np.sqrt(1 - w) * self.tfidf_.encode(texts)])

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

    def _load_state(self, path: Path) -> None:
        if (path / "base").exists():
            self.base_ = load_encoder(path / "base")
        if (path / "tfidf").exists():
            self.tfidf_ = load_encoder(path / "tfidf")
        if (path / "components.npy").exists():
            self.components_ = np.load(path / "components.npy")


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
