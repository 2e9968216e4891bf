"""Bag-of-words vectors: term counts (or presence) over a vocabulary capped at ``dim`` terms.

Same options, output layout and sparse/dense outputs as ``tfidf`` (see its module), without idf.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jointspace.encoders.tfidf import TfidfEncoder


class BowEncoder(TfidfEncoder):
    """Counts (``binary=True``: 0/1 presence) per vocabulary term, L2-normalised, dense out."""

    name = "bow"
    sublinear_tf = False  # counts as they are (not a setting of bow)

    def __init__(
        self,
        dim: int = 4096,
        lowercase: bool = True,
        stop_words: str | None = "english",
        ngram_range: tuple[int, int] | list[int] = (1, 1),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        binary: bool = False,
    ) -> None:
        self.dim = dim
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.binary = binary

    def _fit_weights(self, counts: sp.csr_matrix, n_docs: int) -> None:
        self.idf_ = None

    def transform_sparse(self, texts: list[str]) -> sp.csr_matrix:
        counts = sp.csr_matrix(self.counts(texts), dtype=np.float32)
        if self.binary:
            counts.data[:] = 1.0
        return counts
