"""TF-IDF vectors with a fixed output dimension (the vocabulary is capped at ``dim`` terms)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from jointspace.encoders.base import Encoder, check_texts
from jointspace.errors import JointspaceError


class TfidfEncoder(Encoder):
    """Sparse TF-IDF inside, dense float32 out: column j is the j-th vocabulary term, unused columns 0.

    The fitted state is the vocabulary and the idf weights, stored as JSON/NPY (not pickles), so a
    saved encoder loads under any scikit-learn version.
    """

    name = "tfidf"
    modality = "text"
    trainable = True

    def __init__(
        self,
        dim: int = 4096,
        lowercase: bool = True,
        stop_words: str | None = "english",
        ngram_range: tuple[int, int] | list[int] = (1, 1),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        sublinear_tf: bool = True,
    ) -> None:
        self._dim = dim
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.ngram_range = tuple(ngram_range)
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.vocabulary_: list[str] | None = None
        self.idf_: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def is_fitted(self) -> bool:
        return self.vocabulary_ is not None

    def _vectorizer(self, vocabulary: list[str] | None = None) -> CountVectorizer:
        return CountVectorizer(
            lowercase=self.lowercase,
            stop_words=self.stop_words,
            ngram_range=self.ngram_range,
            min_df=1 if vocabulary else self.min_df,
            max_df=1.0 if vocabulary else self.max_df,
            max_features=None if vocabulary else self.dim,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def fit(self, items: Iterable[str]) -> TfidfEncoder:
        texts = check_texts(items)
        if not texts:
            raise JointspaceError("tfidf: cannot fit on an empty corpus")
        vectorizer = self._vectorizer()
        try:
            counts = vectorizer.fit_transform(texts)
        except ValueError as exc:  # e.g. every word is a stop word
            raise JointspaceError(f"tfidf: cannot fit: {exc}") from exc
        terms = vectorizer.get_feature_names_out()
        df = np.bincount(counts.indices, minlength=len(terms))
        self.vocabulary_ = [str(t) for t in terms]
        self.idf_ = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        return self

    def transform_sparse(self, texts: list[str]) -> sp.csr_matrix:
        """TF-IDF rows as a sparse matrix of width ``len(vocabulary_)`` (not normalised)."""
        counts = self._vectorizer(self.vocabulary_).transform(texts).tocsr()
        if self.sublinear_tf:
            counts.data = 1 + np.log(counts.data)
        return counts @ sp.diags(self.idf_)

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        weights = self.transform_sparse(items)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        out[:, : weights.shape[1]] = weights.toarray()
        return out

    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            (path / "vocabulary.json").write_text(json.dumps(self.vocabulary_))
            np.save(path / "idf.npy", self.idf_)

    def _load_state(self, path: Path) -> None:
        if (path / "vocabulary.json").exists():
            self.vocabulary_ = json.loads((path / "vocabulary.json").read_text())
            self.idf_ = np.load(path / "idf.npy")
