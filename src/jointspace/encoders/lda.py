"""LDA: a text's vector is its topic proportions (online variational Bayes, fitted by streaming).

``fit`` reads the corpus once into an on-disk spool of bag-of-words chunks (see ``spool.py``), then runs
``passes`` epochs of online variational Bayes over the chunks (Hoffman et al., 2010): memory holds one
chunk and the (topics x terms) model. ``transform`` gives proportions that sum to 1; ``encode`` gives
the same direction L2-normalised (the encoder contract). ``perplexity`` scores held-out texts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from jointspace.encoders.base import Encoder, check_int, check_texts
from jointspace.encoders.lda_vb import dirichlet_expectation, e_step
from jointspace.encoders.lda_vb import perplexity as vb_perplexity
from jointspace.encoders.lsa import VocabularyMixin
from jointspace.encoders.spool import CountSpool
from jointspace.errors import NotFittedError


class LdaEncoder(VocabularyMixin, Encoder):
    """Latent Dirichlet allocation with ``n_topics`` topics; ``topics()`` lists each topic's top words."""

    name = "lda"
    modality = "text"
    trainable = True
    vocabulary_: list[str] | None = None
    lambda_: np.ndarray | None = None  # (topics, terms) variational topic-word parameters
    n_docs_ = 0

    def __init__(
        self,
        n_topics: int = 50,
        lowercase: bool = True,
        stop_words: str | None = "english",
        ngram_range: tuple[int, int] | list[int] = (1, 1),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        max_features: int | None = 50_000,
        passes: int = 2,
        chunk_size: int = 2048,
        alpha: float | None = None,
        eta: float | None = None,
        decay: float = 0.7,
        offset: float = 10.0,
        max_doc_iter: int = 100,
        tol: float = 1e-3,
        seed: int = 0,
        spool_dir: str | None = None,
    ) -> None:
        self.n_topics = n_topics
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.passes = passes
        self.chunk_size = chunk_size
        self.alpha = alpha
        self.eta = eta
        self.decay = decay
        self.offset = offset
        self.max_doc_iter = max_doc_iter
        self.tol = tol
        self.seed = seed
        self.spool_dir = spool_dir

    @property
    def dim(self) -> int:
        return self.n_topics

    @property
    def is_fitted(self) -> bool:
        return self.lambda_ is not None

    @property
    def alpha_(self) -> np.ndarray:
        return np.full(self.n_topics, self.alpha if self.alpha is not None else 1.0 / self.n_topics)

    @property
    def eta_(self) -> float:
        return self.eta if self.eta is not None else 1.0 / self.n_topics

    def fit(self, items: Iterable[str], y: object = None, progress: Callable[[int], None] | None = None
            ) -> LdaEncoder:
        """Learn topics from any iterable of texts (read once; ``passes`` epochs over an on-disk spool)."""
        for what in ("n_topics", "passes", "chunk_size", "max_doc_iter"):
            check_int("lda", what, getattr(self, what))
        rng = np.random.default_rng(self.seed)
        alpha, eta = self.alpha_, self.eta_
        with CountSpool(self._analyzer(), self.chunk_size, self.spool_dir) as spool:
            spool.consume(items)
            vocabulary = spool.finalize(self.min_df, self.max_df, self.max_features, name=self.name)
            n_docs = spool.n_docs
            lam = rng.gamma(100.0, 0.01, (self.n_topics, len(vocabulary)))
            exp_beta_t = np.ascontiguousarray(np.exp(dirichlet_expectation(lam)).T)
            updates = 0
            for _ in range(self.passes):
                for counts in spool.chunks():
                    step = e_step(counts, exp_beta_t, alpha, self.max_doc_iter, self.tol, rng)
                    rho = (self.offset + updates) ** -self.decay
                    lam *= 1 - rho
                    lam += rho * (eta + (n_docs / counts.shape[0]) * step.sstats * exp_beta_t.T)
                    exp_beta_t = np.ascontiguousarray(np.exp(dirichlet_expectation(lam)).T)
                    updates += 1
                    if progress:
                        progress(counts.shape[0])
        self.vocabulary_, self.lambda_, self.n_docs_ = vocabulary, lam.astype(np.float32), n_docs
        self._term_index = {t: i for i, t in enumerate(vocabulary)}
        return self

    def _exp_beta_t(self) -> np.ndarray:
        cached = getattr(self, "_exp_beta_cache", None)
        if cached is None or cached[0] is not self.lambda_:
            lam = self.lambda_.astype(np.float64)
            cached = (self.lambda_, np.ascontiguousarray(np.exp(dirichlet_expectation(lam)).T))
            self._exp_beta_cache = cached
        return cached[1]

    def transform(self, X: Iterable[str]) -> np.ndarray:
        """Topic proportions (rows sum to 1), as scikit-learn's LatentDirichletAllocation; ``encode`` gives
        the same direction at unit length. ItemError for a text with no word in the vocabulary."""
        return self.proportions(X)

    def proportions(self, items: Iterable[str]) -> np.ndarray:
        """Topic proportions (rows sum to 1); ItemError for a text with no word in the vocabulary."""
        if not self.is_fitted:
            raise NotFittedError("encoder 'lda' must be fitted before transform")
        counts = self.counts(check_texts(items))
        self._check_known(counts)
        step = e_step(counts, self._exp_beta_t(), self.alpha_, self.max_doc_iter, self.tol,
                      np.random.default_rng(self.seed), want_sstats=False)
        return (step.gamma / step.gamma.sum(axis=1, keepdims=True)).astype(np.float32)

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.proportions(items)

    def perplexity(self, items: Iterable[str]) -> float:
        """Held-out per-word perplexity (lower is better); words outside the vocabulary are ignored."""
        if not self.is_fitted:
            raise NotFittedError("encoder 'lda' must be fitted first")
        texts = check_texts(items)
        return vb_perplexity(self.counts(texts), self.lambda_, self.alpha_, self.max_doc_iter, self.tol, self.seed)

    def topic_word(self) -> np.ndarray:
        """(topics, terms) word distributions E[beta] (rows sum to 1)."""
        if not self.is_fitted:
            raise NotFittedError("encoder 'lda' must be fitted first")
        return self.lambda_ / self.lambda_.sum(axis=1, keepdims=True)

    def topics(self, n_terms: int = 10) -> list[list[tuple[str, float]]]:
        """Per topic, its ``n_terms`` most probable words with their probabilities."""
        beta = self.topic_word()
        return [[(self.vocabulary_[i], round(float(row[i]), 4)) for i in np.argsort(-row, kind="stable")[:n_terms]]
                for row in beta]

    def term_vectors(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each term's topic profile p(topic | term) and a mask of the terms in the vocabulary."""
        beta = self.topic_word()
        rows = [self._term_index.get(t.lower() if self.lowercase else t, -1) for t in terms]
        known = np.array([r >= 0 for r in rows], dtype=bool)
        out = np.zeros((len(terms), self.dim), dtype=np.float32)
        if known.any():
            cols = beta[:, [r for r in rows if r >= 0]].T
            out[known] = cols / cols.sum(axis=1, keepdims=True)
        return out, known

    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            (path / "vocabulary.json").write_text(json.dumps(self.vocabulary_))
            np.save(path / "lambda.npy", self.lambda_)

    def _load_state(self, path: Path) -> None:
        if (path / "lambda.npy").exists():
            self.vocabulary_ = json.loads((path / "vocabulary.json").read_text())
            self.lambda_ = np.load(path / "lambda.npy")
            self._term_index = {t: i for i, t in enumerate(self.vocabulary_)}
