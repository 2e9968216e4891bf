"""TF-IDF vectors with a fixed output dimension (the vocabulary is capped at ``dim`` terms).

Output: ``encode`` returns dense float32 rows of width ``dim`` (column j is the j-th vocabulary term,
columns past the fitted vocabulary are 0), as every encoder does; ``encode_sparse`` returns the same
L2-normalised rows as a ``scipy.sparse.csr_matrix``, which is what to use for wide vocabularies.
``dim`` larger than the vocabulary the corpus yields is allowed: the extra columns stay 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from jointspace.encoders.base import Encoder, check_texts
from jointspace.errors import JointspaceError, NotFittedError


def smooth_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """scikit-learn's smoothed idf: log((1 + n) / (1 + df)) + 1."""
    return (np.log((1 + n_docs) / (1 + np.asarray(df, dtype=np.float64))) + 1).astype(np.float32)


def plain_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Unsmoothed idf, log(n / df) (gensim's): a term in every document weighs 0, rare terms relatively more."""
    return np.log(n_docs / np.maximum(np.asarray(df, dtype=np.float64), 1)).astype(np.float32)


def l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Sparse rows scaled to unit length (empty rows stay empty)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ matrix)


def tfidf_weights(counts: sp.csr_matrix, idf: np.ndarray, sublinear_tf: bool) -> sp.csr_matrix:
    """Counts -> (1 + log tf or tf) * idf, not normalised."""
    counts = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    if sublinear_tf:
        counts.data = 1 + np.log(counts.data)
    return sp.csr_matrix(counts @ sp.diags(idf))


class TfidfEncoder(Encoder):
    """Sparse TF-IDF inside, dense float32 out: column j is the j-th vocabulary term, unused columns 0.

    The fitted state is the vocabulary and the idf weights, stored as JSON/NPY (not pickles), so a
    saved encoder loads under any scikit-learn version. ``fit`` accepts any iterable (it is read into
    memory: for corpora larger than memory use ``lsa`` or ``lda``, which stream).
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
        self._dim = dim  # constructor arguments are stored as given; fit checks them
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.ngram_range = ngram_range
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
            ngram_range=tuple(self.ngram_range),
            min_df=1 if vocabulary else self.min_df,
            max_df=1.0 if vocabulary else self.max_df,
            max_features=None if vocabulary else self.dim,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def fit(self, items: Iterable[str]) -> TfidfEncoder:
        if self.dim < 1:
            raise JointspaceError(f"{self.name}: dim must be at least 1, got {self.dim}")
        texts = check_texts(items)
        if not texts:
            raise JointspaceError(f"{self.name}: cannot fit on an empty corpus")
        vectorizer = self._vectorizer()
        try:
            counts = vectorizer.fit_transform(texts)
        except ValueError as exc:  # e.g. every word is a stop word
            raise JointspaceError(f"{self.name}: cannot fit: {exc}") from exc
        terms = vectorizer.get_feature_names_out()
        self.vocabulary_ = [str(t) for t in terms]
        self._fit_weights(counts, len(texts))
        return self

    def _fit_weights(self, counts: sp.csr_matrix, n_docs: int) -> None:
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = smooth_idf(df, n_docs)

    def counts(self, texts: list[str]) -> sp.csr_matrix:
        """Raw term counts, width ``len(vocabulary_)``."""
        if not self.is_fitted:
            raise NotFittedError(f"encoder {self.name!r} must be fitted before encode")
        return self._vectorizer(self.vocabulary_).transform(texts).tocsr()

    def transform_sparse(self, texts: list[str]) -> sp.csr_matrix:
        """TF-IDF rows as a sparse matrix of width ``len(vocabulary_)`` (not normalised)."""
        return tfidf_weights(self.counts(texts), self.idf_, self.sublinear_tf)

    def encode_sparse(self, items: Iterable[str]) -> sp.csr_matrix:
        """The rows ``encode`` returns, as a sparse (n, dim) float32 CSR matrix, L2-normalised."""
        texts = check_texts(items)
        weights = l2_rows(self.transform_sparse(texts))
        weights.resize((len(texts), self.dim))
        return weights

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        weights = self.transform_sparse(items)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        out[:, : weights.shape[1]] = weights.toarray()
        return out

    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            (path / "vocabulary.json").write_text(json.dumps(self.vocabulary_))
            if self.idf_ is not None:
                np.save(path / "idf.npy", self.idf_)

    def _load_state(self, path: Path) -> None:
        if (path / "vocabulary.json").exists():
            self.vocabulary_ = json.loads((path / "vocabulary.json").read_text())
            if (path / "idf.npy").exists():
                self.idf_ = np.load(path / "idf.npy")
