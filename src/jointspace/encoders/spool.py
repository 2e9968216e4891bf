"""A corpus counted once into sparse bag-of-words chunks on disk, for encoders that need several passes.

``CountSpool`` tokenises each chunk of texts, gives new terms ids as they come, keeps document
frequencies, and writes each chunk's count matrix to a temporary folder. ``finalize`` then picks the
vocabulary (min/max document frequency, at most ``max_features`` terms) and rewrites the chunks in that
vocabulary, so every later pass is a cheap read of CSR arrays. Memory holds one chunk, the term table
and the document frequencies; the corpus itself lives on disk. When the term table passes ``prune_at``
distinct terms (a huge, noisy corpus), the rarest half is dropped, as gensim's ``Dictionary`` does: a
dropped term seen again later restarts its count, so its document frequency is then an underestimate.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from jointspace.encoders.streaming import Texts, chunked
from jointspace.errors import JointspaceError


def make_analyzer(lowercase: bool = True, stop_words: str | list[str] | None = "english",
                  ngram_range: tuple[int, int] = (1, 1)) -> Callable[[str], list[str]]:
    """scikit-learn's word analyzer (token pattern, lowercasing, stop words, n-grams) as a function."""
    return CountVectorizer(lowercase=lowercase, stop_words=stop_words, ngram_range=tuple(ngram_range)).build_analyzer()


def doc_count_limit(value: int | float, n_docs: int, name: str) -> int:
    """min_df / max_df as a document count: an int is a count, a float in [0, 1] a fraction of documents."""
    if isinstance(value, float):
        if not 0.0 <= value <= 1.0:
            raise JointspaceError(f"{name} as a fraction must lie in [0, 1], got {value}")
        return int(np.ceil(value * n_docs)) if name == "min_df" else int(np.floor(value * n_docs))
    if value < 0:
        raise JointspaceError(f"{name} must be >= 0, got {value}")
    return int(value)


class CountSpool:
    """Counts a corpus into on-disk CSR chunks (see the module docstring). Use as a context manager."""

    def __init__(self, analyzer: Callable[[str], list[str]], chunk_size: int = 4096,
                 directory: str | Path | None = None, prune_at: int = 2_000_000) -> None:
        if chunk_size < 1:
            raise JointspaceError(f"chunk_size must be at least 1, got {chunk_size}")
        self.analyzer = analyzer
        self.chunk_size = chunk_size
        self.prune_at = prune_at
        self.path = Path(tempfile.mkdtemp(prefix="jointspace-spool-", dir=directory))
        self.terms: dict[str, int] = {}
        self.df = np.zeros(1 << 14, dtype=np.int64)
        self.next_id = 0
        self.n_docs = 0
        self.skipped = 0
        self.n_chunks = 0
        self.vocabulary: list[str] = []
        self.vocab_df = np.zeros(0, dtype=np.int64)

    def __enter__(self) -> CountSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    # -- pass 1: count ---------------------------------------------------------------------------
    def consume(self, items: Iterable[Any]) -> CountSpool:
        texts = Texts(items)
        for chunk in chunked(texts, self.chunk_size):
            self._add_chunk(chunk)
        self.n_docs, self.skipped = texts.n_docs, texts.skipped
        return self

    def _add_chunk(self, docs: list[str]) -> None:
        terms, analyzer = self.terms, self.analyzer
        indptr, indices, counts = [0], [], []
        for doc in docs:
            feats: dict[int, int] = {}
            for token in analyzer(doc):
                i = terms.get(token)
                if i is None:
                    i = terms[token] = self.next_id
                    self.next_id += 1
                feats[i] = feats.get(i, 0) + 1
            indices.extend(feats)
            counts.extend(feats.values())
            indptr.append(len(indices))
        idx = np.asarray(indices, dtype=np.int64)
        if self.next_id > len(self.df):
            self.df = np.concatenate([self.df, np.zeros(max(self.next_id, 2 * len(self.df)) - len(self.df), np.int64)])
        self.df[: self.next_id] += np.bincount(idx, minlength=self.next_id)
        np.savez(self.path / f"raw{self.n_chunks}.npz", indptr=np.asarray(indptr, np.int64), indices=idx,
                 data=np.asarray(counts, np.float32))
        self.n_chunks += 1
        if len(terms) > self.prune_at:
            self._prune()

    def _prune(self) -> None:
        ids = np.fromiter(self.terms.values(), dtype=np.int64, count=len(self.terms))
        keep = set(ids[np.argsort(-self.df[ids], kind="stable")[: self.prune_at // 2]].tolist())
        self.terms = {t: i for t, i in self.terms.items() if i in keep}

    # -- vocabulary --------------------------------------------------------------------------------
    def finalize(self, min_df: int | float = 1, max_df: int | float = 1.0, max_features: int | None = None,
                 name: str = "encoder") -> list[str]:
        """Choose the vocabulary and rewrite every chunk in it; returns the (sorted) vocabulary."""
        if self.n_docs == 0:
            raise JointspaceError(f"{name}: cannot fit on an empty corpus (no non-blank text)")
        lo = doc_count_limit(min_df, self.n_docs, "min_df")
        hi = doc_count_limit(max_df, self.n_docs, "max_df")
        items = [(t, i) for t, i in self.terms.items() if lo <= self.df[i] <= hi]
        if max_features is not None and len(items) > max_features:
            items.sort(key=lambda ti: -self.df[ti[1]])
            items = items[:max_features]
        if not items:
            raise JointspaceError(
                f"{name}: no term left to learn from ({self.n_docs} documents, {len(self.terms)} distinct terms "
                f"before filtering with min_df={min_df}, max_df={max_df}); every word may be a stop word, "
                "or the corpus is too small for these limits")
        items.sort()
        remap = np.full(self.next_id, -1, dtype=np.int64)
        remap[[i for _, i in items]] = np.arange(len(items))
        self.vocabulary = [t for t, _ in items]
        self.vocab_df = self.df[[i for _, i in items]].copy()
        for c in range(self.n_chunks):
            raw = self.path / f"raw{c}.npz"
            with np.load(raw) as z:
                indptr, indices, data = z["indptr"], z["indices"], z["data"]
            new = remap[indices]
            keep = new >= 0
            rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))[keep]
            ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(indptr) - 1))])
            np.savez(self.path / f"final{c}.npz", indptr=ptr, indices=new[keep].astype(np.int32), data=data[keep])
            raw.unlink()
        return self.vocabulary

    def chunks(self) -> Iterator[sp.csr_matrix]:
        """The corpus, chunk by chunk, as count matrices (float32) in the final vocabulary."""
        if not self.vocabulary:
            raise JointspaceError("CountSpool.chunks() before finalize()")
        for c in range(self.n_chunks):
            with np.load(self.path / f"final{c}.npz") as z:
                yield sp.csr_matrix((z["data"], z["indices"], z["indptr"]),
                                    shape=(len(z["indptr"]) - 1, len(self.vocabulary)))
