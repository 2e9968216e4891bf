"""LSA: a truncated SVD of the TF-IDF document-term matrix; a text's vector is its TF-IDF folded in.

``fit`` streams (see ``streaming.py``): one read of the corpus into an on-disk spool, then ``n_iter``
passes of randomized subspace iteration (``sketch.py``). Folding in a new text is a projection onto the
fitted term space, ``x V_k`` (as ``TruncatedSVD.transform``), so nothing is refitted at encode time.

The TF-IDF is sublinear (1 + log tf) with the plain idf log(n / df) by default (``smooth_idf=False``, as
gensim's): on wordnet-gloss it gave MRR 0.135 against 0.128 with scikit-learn's smoothed idf (the
``tfidf`` encoder's), see docs/benchmarks.md. When every term is in every document (a one-document corpus),
plain idf would weigh everything 0, so the smoothed idf is used instead.

``weighting`` picks the term weights before the SVD (Dumais 1991):

- ``tfidf``: (1 + log tf) x idf (``sublinear_tf`` / ``smooth_idf`` give the TF-IDF variants);
- ``log-entropy``: log(1 + tf) x (1 + sum_j p_ij log p_ij / log n), p_ij = tf_ij / gf_i: a term spread
  evenly over documents weighs 0, one concentrated in few documents weighs 1.

Each weighted document row is L2-normalised before the SVD and before folding in. A text's vector is
``x V_k S_k^(p - 1)`` with ``p = singular_power`` (Caron 2001): p = 1 (the default) is
``TruncatedSVD.transform`` (U_k S_k for a fitted document); p = 2 stretches the leading, corpus-wide
components further.

Defaults chosen by measurement (bench/lsa_quality.py, docs/benchmarks.md "Quality vs baselines"):
log-entropy beat the TF-IDF weighting at most dimensions on the Lee news-paragraph similarity set and
tied it on rt-plots retrieval. 400 components (was 200) lift rt-plots MRR@10 from 0.061 to 0.096, past
the TF-IDF it starts from (0.092). ``singular_power=2`` lifts Lee similarity from r 0.51-0.58 to
0.61-0.65 (above the TF-IDF cosine's 0.585) but costs a third of rt-plots MRR, so it is the setting
for document similarity, not the default.

When the corpus supports fewer than ``dim`` components (rank <= min(documents, terms)), the encoder
keeps its declared ``dim`` and the missing components are 0 with singular value 0; a warning says so.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from jointspace.encoders.base import Encoder, check_int
from jointspace.encoders.sketch import streaming_svd
from jointspace.encoders.spool import CountSpool, make_analyzer
from jointspace.encoders.tfidf import l2_rows, plain_idf, smooth_idf, tfidf_weights
from jointspace.errors import ItemError, JointspaceError, NotFittedError

WEIGHTINGS = ("log-entropy", "tfidf")


def entropy_weights(chunks: Iterable[sp.csr_matrix], n_terms: int, n_docs: int) -> np.ndarray:
    """The log-entropy global weight of each term, from one pass over count chunks (float32)."""
    gf = np.zeros(n_terms, dtype=np.float64)
    h = np.zeros(n_terms, dtype=np.float64)
    for counts in chunks:
        counts = sp.csr_matrix(counts)
        gf += np.bincount(counts.indices, weights=counts.data, minlength=n_terms)
        h += np.bincount(counts.indices, weights=counts.data * np.log(counts.data), minlength=n_terms)
    if n_docs < 2:
        return np.ones(n_terms, dtype=np.float32)
    safe = np.maximum(gf, 1.0)
    entropy = (h / safe - np.log(safe)) / np.log(n_docs)  # sum_j p log p / log n, in [-1, 0]
    return np.clip(1.0 + entropy, 0.0, 1.0).astype(np.float32)


def weigh(counts: sp.csr_matrix, global_weights: np.ndarray, weighting: str, sublinear_tf: bool) -> sp.csr_matrix:
    """Counts -> local x global weights, rows L2-normalised."""
    if weighting == "log-entropy":
        local = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        local.data = np.log1p(local.data)
        return l2_rows(sp.csr_matrix(local @ sp.diags(global_weights)))
    return l2_rows(tfidf_weights(counts, global_weights, sublinear_tf))


class VocabularyMixin:
    """Shared by lsa and lda: the analyzer, the spool-based fit front end, and counts of new texts."""

    name: str
    lowercase: bool
    stop_words: str | None
    ngram_range: tuple[int, int]
    vocabulary_: list[str] | None

    def _analyzer(self) -> Callable[[str], list[str]]:
        return make_analyzer(self.lowercase, self.stop_words, self.ngram_range)

    def counts(self, texts: list[str]) -> sp.csr_matrix:
        """Term counts of texts in the fitted vocabulary (float32 CSR); unknown terms are ignored."""
        if self.vocabulary_ is None:
            raise NotFittedError(f"encoder {self.name!r} must be fitted before encode")
        index = getattr(self, "_term_index", None)
        if index is None or len(index) != len(self.vocabulary_):
            index = self._term_index = {t: i for i, t in enumerate(self.vocabulary_)}
        analyzer = self._analyzer()
        indptr, indices, data = [0], [], []
        for text in texts:
            feats: dict[int, int] = {}
            for token in analyzer(text):
                i = index.get(token)
                if i is not None:
                    feats[i] = feats.get(i, 0) + 1
            indices.extend(feats)
            data.extend(feats.values())
            indptr.append(len(indices))
        return sp.csr_matrix((np.asarray(data, np.float32), np.asarray(indices, np.int32), np.asarray(indptr)),
                             shape=(len(texts), len(self.vocabulary_)))

    def _check_known(self, counts: sp.csr_matrix) -> None:
        empty = np.flatnonzero(np.diff(counts.indptr) == 0)
        if len(empty):
            i = int(empty[0])
            raise ItemError(f"item {i}", f"no word of this text is in the {self.name} vocabulary", position=i)


class LsaEncoder(VocabularyMixin, Encoder):
    """Latent semantic analysis with ``dim`` components; ``topics()`` names what each one means."""

    name = "lsa"
    modality = "text"
    trainable = True
    vocabulary_: list[str] | None = None
    idf_: np.ndarray | None = None
    components_: np.ndarray | None = None  # (terms, dim): the right singular vectors
    singular_values_: np.ndarray | None = None  # (dim,), descending; 0 past the corpus' rank
    n_docs_ = 0

    def __init__(
        self,
        dim: int = 400,
        lowercase: bool = True,
        stop_words: str | None = "english",
        ngram_range: tuple[int, int] | list[int] = (1, 1),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        max_features: int | None = 100_000,
        weighting: str = "log-entropy",
        singular_power: float = 1.0,
        sublinear_tf: bool = True,
        smooth_idf: bool = False,
        n_iter: int = 4,
        oversample: int = 20,
        chunk_size: int = 16384,
        seed: int = 0,
        spool_dir: str | None = None,
    ) -> None:
        self.dim = dim
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.weighting = weighting
        self.singular_power = singular_power
        self.sublinear_tf = sublinear_tf
        self.smooth_idf = smooth_idf
        self.n_iter = n_iter
        self.oversample = oversample
        self.chunk_size = chunk_size
        self.seed = seed
        self.spool_dir = spool_dir

    @property
    def is_fitted(self) -> bool:
        return self.components_ is not None

    def fit(self, items: Iterable[str], y: object = None, progress: Callable[[int], None] | None = None
            ) -> LsaEncoder:
        """Learn the latent space from any iterable of texts (read once; see the module docstring)."""
        check_int("lsa", "dim", self.dim)
        if self.weighting not in WEIGHTINGS:
            raise JointspaceError(f"lsa: unknown weighting {self.weighting!r}; use one of {', '.join(WEIGHTINGS)}")
        with CountSpool(self._analyzer(), self.chunk_size, self.spool_dir) as spool:
            spool.consume(items)
            vocabulary = spool.finalize(self.min_df, self.max_df, self.max_features, name=self.name)
            if self.weighting == "log-entropy":
                idf = entropy_weights(spool.chunks(), len(vocabulary), spool.n_docs)
            else:
                idf = smooth_idf(spool.vocab_df, spool.n_docs) if self.smooth_idf else plain_idf(spool.vocab_df,
                                                                                                     spool.n_docs)
            if not idf.any():  # every term in every document, evenly (e.g. one document): weigh by idf instead
                idf = smooth_idf(spool.vocab_df, spool.n_docs)
            rank = min(spool.n_docs, len(vocabulary))
            k = min(self.dim, rank)
            if k < self.dim:
                warnings.warn(f"lsa: the corpus ({spool.n_docs} documents, {len(vocabulary)} terms) supports only "
                              f"{k} components; components {k + 1}..{self.dim} are 0", stacklevel=2)

            def weighted() -> Iterable[sp.csr_matrix]:
                for counts in spool.chunks():
                    yield weigh(counts, idf, self.weighting, self.sublinear_tf)

            vectors, values = streaming_svd(weighted, len(vocabulary), k, n_iter=self.n_iter,
                                            oversample=self.oversample, seed=self.seed, progress=progress)
            n_docs = spool.n_docs
        components = np.zeros((len(vocabulary), self.dim), dtype=np.float32)
        components[:, :k] = vectors
        singular = np.zeros(self.dim, dtype=np.float32)
        singular[:k] = values
        self.vocabulary_, self.idf_, self.n_docs_ = vocabulary, idf, n_docs
        self.components_, self.singular_values_ = components, singular
        self._term_index = {t: i for i, t in enumerate(vocabulary)}
        return self

    def transform_tfidf(self, texts: list[str]) -> sp.csr_matrix:
        """The L2-normalised weighted rows (TF-IDF or log-entropy) that get folded in."""
        return weigh(self.counts(texts), self.idf_, getattr(self, "weighting", "tfidf"), self.sublinear_tf)

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        weights = self.transform_tfidf(items)
        self._check_known(weights)
        folded = np.asarray(weights @ self.components_, dtype=np.float32)  # = U_k S_k for a fitted document
        power = getattr(self, "singular_power", 1.0)
        if power != 1.0:
            scale = np.zeros_like(self.singular_values_)
            positive = self.singular_values_ > 0
            scale[positive] = self.singular_values_[positive] ** (power - 1.0)
            folded *= scale
        return folded

    def term_vectors(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each term's row of V_k * S_k (its latent vector) and a mask of the terms in the vocabulary."""
        if not self.is_fitted:
            raise NotFittedError("encoder 'lsa' must be fitted first")
        rows = [self._term_index.get(t.lower() if self.lowercase else t, -1) for t in terms]
        known = np.array([r >= 0 for r in rows], dtype=bool)
        out = np.zeros((len(terms), self.dim), dtype=np.float32)
        if known.any():
            out[known] = self.components_[[r for r in rows if r >= 0]] * self.singular_values_
        return out, known

    def topics(self, n_terms: int = 10) -> list[list[tuple[str, float]]]:
        """Per latent dimension (in order of singular value), its ``n_terms`` highest-loading terms."""
        if not self.is_fitted:
            raise NotFittedError("encoder 'lsa' must be fitted first")
        out = []
        for j in range(self.dim):
            column = self.components_[:, j]
            if self.singular_values_[j] == 0:
                out.append([])
                continue
            top = np.argsort(-column, kind="stable")[:n_terms]
            out.append([(self.vocabulary_[i], round(float(column[i]), 4)) for i in top])
        return out

    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            (path / "vocabulary.json").write_text(json.dumps(self.vocabulary_))
            np.save(path / "idf.npy", self.idf_)
            np.save(path / "components.npy", self.components_)
            np.save(path / "singular_values.npy", self.singular_values_)

    def _load_state(self, path: Path) -> None:
        if (path / "components.npy").exists():
            saved = json.loads((path / "encoder.json").read_text()) if (path / "encoder.json").exists() else {}
            if "weighting" not in saved.get("params", {"weighting": None}):
                self.weighting = "tfidf"  # saved before weightings existed: its weights are TF-IDF
                self.singular_power = 1.0  # and its vectors x V_k
            self.vocabulary_ = json.loads((path / "vocabulary.json").read_text())
            self.idf_ = np.load(path / "idf.npy")
            self.components_ = np.load(path / "components.npy")
            self.singular_values_ = np.load(path / "singular_values.npy")
            self._term_index = {t: i for i, t in enumerate(self.vocabulary_)}
