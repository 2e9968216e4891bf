"""Variational inference for LDA (Hoffman, Blei & Bach, 2010), vectorised over a whole chunk of documents.

scikit-learn and gensim update each document's topic weights in a Python loop; here one chunk's
documents are updated together: per iteration one gather and one segment sum over the chunk's non-zero
(document, word) entries, so the cost is numpy's, not the interpreter's. Documents that have converged
drop out of the working set. The same functions score held-out text (``bound``), for any LDA model given
as (lambda, alpha): that is how the benchmark compares jointspace, gensim and scikit-learn models fairly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln, psi

EPS = 1e-100
TINY = np.float32(1e-30)


def dirichlet_expectation(x: np.ndarray) -> np.ndarray:
    """E[log theta] for theta ~ Dirichlet(x), row-wise."""
    return psi(x) - psi(x.sum(axis=-1, keepdims=True))


@dataclass
class EStep:
    gamma: np.ndarray  # (docs, topics) variational Dirichlet parameters
    sstats: np.ndarray | None  # (topics, terms) expected counts, still to be multiplied by exp E[log beta]
    log_phinorm_dot: float  # sum over entries of count * log(sum_k exp(E log theta_dk + E log beta_kw))


def _infer_block(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, exp_beta_t32: np.ndarray,
                 alpha: np.ndarray, g: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
    """Iterate the gamma of a block of non-empty documents to convergence (rows of g, returned updated)."""
    out = g.copy()
    docs = np.arange(len(g))  # working set, as rows of the block
    w_len = np.diff(indptr)
    w_cnt = data.astype(np.float32)
    w_beta = exp_beta_t32[indices]  # (entries, topics)
    w_ptr = indptr[:-1] - indptr[0]
    w_rows = np.repeat(docs, w_len)
    frozen = np.zeros(len(docs), dtype=bool)  # converged: kept as they were when they converged, as a per-doc loop
    for _ in range(max_iter):
        exp_theta = np.exp(dirichlet_expectation(g)).astype(np.float32)
        phinorm = np.einsum("ij,ij->i", exp_theta[w_rows], w_beta) + TINY
        g_new = alpha + exp_theta * np.add.reduceat((w_cnt / phinorm)[:, None] * w_beta, w_ptr, axis=0)
        newly = (np.abs(g_new - g).mean(axis=1) < tol) & ~frozen
        g = g_new
        out[docs[newly]] = g[newly]
        frozen |= newly
        if frozen.all():
            return out
        if frozen.sum() * 4 >= len(frozen):  # drop converged documents once a quarter of the set has converged
            keep = ~frozen
            entry_keep = keep[w_rows]
            docs, g, w_len, frozen = docs[keep], g[keep], w_len[keep], frozen[keep]
            w_cnt, w_beta = w_cnt[entry_keep], w_beta[entry_keep]
            w_ptr = np.concatenate([[0], np.cumsum(w_len)[:-1]])
            w_rows = np.repeat(np.arange(len(docs)), w_len)
    docs, g = docs[~frozen], g[~frozen]
    out[docs] = g
    return out


def e_step(counts: sp.csr_matrix, exp_elog_beta_t: np.ndarray, alpha: np.ndarray, max_iter: int = 100,
           tol: float = 1e-3, rng: np.random.Generator | None = None, want_sstats: bool = True,
           block_entries: int = 1 << 18) -> EStep:
    """Fit each document's gamma with beta fixed. ``exp_elog_beta_t`` is (terms, topics), C-contiguous.

    Documents go in blocks of about ``block_entries`` (entry x topic) values, small enough to stay in the CPU
    cache while they iterate; the per-entry work runs in float32, gamma in float64.
    """
    rng = rng or np.random.default_rng(0)
    counts = sp.csr_matrix(counts)
    n_docs, n_topics = counts.shape[0], exp_elog_beta_t.shape[1]
    gamma = rng.gamma(100.0, 0.01, (n_docs, n_topics))
    lengths = np.diff(counts.indptr)
    gamma[lengths == 0] = alpha
    beta32 = np.asarray(exp_elog_beta_t, dtype=np.float32)
    docs = np.flatnonzero(lengths > 0)
    per_block = max(1, block_entries // n_topics)
    start = 0
    while start < len(docs):
        # consecutive non-empty documents holding about per_block entries
        first = counts.indptr[docs[start]]
        stop = int(np.searchsorted(counts.indptr[docs + 1], first + per_block, side="right"))
        stop = max(stop, start + 1)
        block = docs[start:stop]
        rows = slice(block[0], block[-1] + 1)
        sub = counts[rows]
        keep = np.diff(sub.indptr) > 0
        sub = sub[keep]
        targets = np.arange(rows.start, rows.stop)[keep]
        gamma[targets] = _infer_block(sub.indptr, sub.indices, sub.data, beta32, alpha, gamma[targets], max_iter, tol)
        start = stop
    # final statistics with the converged gamma
    exp_theta = np.exp(dirichlet_expectation(gamma))
    rows = np.repeat(np.arange(n_docs), lengths)
    phinorm = np.einsum("ij,ij->i", exp_theta[rows], exp_elog_beta_t[counts.indices]) + EPS
    log_dot = float(np.dot(counts.data, np.log(phinorm)))
    sstats = None
    if want_sstats:
        scaled = sp.csr_matrix((counts.data / phinorm, counts.indices, counts.indptr), shape=counts.shape)
        sstats = np.asarray((scaled.T @ exp_theta).T)  # (topics, terms)
    return EStep(gamma, sstats, log_dot)


def doc_bound(step: EStep, alpha: np.ndarray) -> float:
    """The documents' part of the evidence lower bound: E[log p(w | theta, beta)] - KL(q(theta) || p(theta))."""
    gamma = step.gamma
    elog_theta = dirichlet_expectation(gamma)
    score = step.log_phinorm_dot
    score += float(np.sum((alpha - gamma) * elog_theta))
    score += float(np.sum(gammaln(gamma) - gammaln(alpha)))
    score += float(np.sum(gammaln(alpha.sum()) - gammaln(gamma.sum(axis=1))))
    return score


def perplexity(counts: sp.csr_matrix, lam: np.ndarray, alpha: np.ndarray | float, max_iter: int = 100,
               tol: float = 1e-3, seed: int = 0, chunk_size: int = 4096) -> float:
    """Held-out per-word perplexity exp(-bound / words) of an LDA model given by lambda (topics x terms).

    The bound is the documents' ELBO with q(beta) = Dirichlet(lambda) held fixed (the topic-word KL term
    is left out: it does not depend on the held-out text). Lower is better.
    """
    lam = np.asarray(lam, dtype=np.float64)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (lam.shape[0],)).copy()
    exp_elog_beta_t = np.ascontiguousarray(np.exp(dirichlet_expectation(lam)).T)
    counts = sp.csr_matrix(counts)
    rng = np.random.default_rng(seed)
    total, words = 0.0, float(counts.sum())
    if words == 0:
        raise ValueError("no held-out word is in the model's vocabulary")
    for start in range(0, counts.shape[0], chunk_size):
        step = e_step(counts[start:start + chunk_size], exp_elog_beta_t, alpha, max_iter, tol, rng, want_sstats=False)
        total += doc_bound(step, alpha)
    return float(np.exp(-total / words))
