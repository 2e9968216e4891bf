"""Truncated SVD of a matrix that only streams by rows: randomized subspace iteration on A^T A, then Nystrom.

A (documents x terms) is never held: each pass reads its row chunks once and accumulates
Y = A^T (A Q), a (terms x l) matrix, so memory is O(terms * l) whatever the number of documents.
After ``n_iter`` passes, the Nystrom approximation of the Gram matrix A^T A from (Q, Y) gives its top
eigenpairs, i.e. A's right singular vectors and squared singular values (Tropp et al., 2017, "Fixed-rank
approximation of a positive-semidefinite matrix from streaming data"); it uses the last pass fully, so
no extra pass is needed for the Rayleigh-Ritz step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp


def streaming_svd(chunks: Callable[[], Iterable[sp.spmatrix | np.ndarray]], n_features: int, k: int,
                  n_iter: int = 4, oversample: int = 20, seed: int = 0,
                  progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` right singular vectors (n_features x k, float32) and singular values (descending).

    ``chunks()`` must yield the row blocks of A afresh on each call; it is called ``n_iter`` times.
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1, got {n_iter}")
    width = min(k + oversample, n_features)
    rng = np.random.default_rng(seed)
    q = _orthonormal(rng.standard_normal((n_features, width), dtype=np.float32))
    y = q
    for it in range(n_iter):
        if it:
            # Normalising by LU (as scikit-learn's randomized_svd does) keeps the range and is cheap; the last
            # step needs an orthonormal basis. (LAPACK QR on a tall matrix is several times slower than either.)
            q = _orthonormal(y) if it == n_iter - 1 else la.lu(y, permute_l=True, check_finite=False)[0]
            q = np.ascontiguousarray(q, dtype=np.float32)
            del y
        y = np.zeros((n_features, width), dtype=np.float32)
        for block in chunks():
            _accumulate(y, sp.csr_matrix(block), q)
        if progress:
            progress(1)
    return _nystrom_eig(q, y, k)


def _accumulate(y: np.ndarray, block: sp.csr_matrix, q: np.ndarray) -> None:
    """y += block^T (block q), touching only the columns (terms) the block uses."""
    if block.nnz == 0:
        return
    cols, local = np.unique(block.indices, return_inverse=True)
    if len(cols) > y.shape[0] // 2:  # a big chunk uses most terms: plain products are cheaper than gathers
        y += np.asarray(block.T @ (block @ q), dtype=np.float32)
        return
    sub = sp.csr_matrix((block.data, local.ravel(), block.indptr), shape=(block.shape[0], len(cols)))
    y[cols] += np.asarray(sub.T @ (sub @ q[cols]), dtype=np.float32)


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of span(y) by Cholesky-QR applied twice (matrix products only); QR if rank-deficient."""
    y = np.asarray(y, dtype=np.float32)
    try:
        for _ in range(2):
            r = la.cholesky((y.T @ y).astype(np.float64), lower=False)
            y = y @ la.solve_triangular(r, np.eye(r.shape[0]), lower=False).astype(np.float32)
        return y
    except la.LinAlgError:
        return np.linalg.qr(y)[0].astype(np.float32)


def _nystrom_eig(q: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenpairs of G ~ Y (Q^T Y)^-1 Y^T, with a small shift for numerical stability.

    The tall (terms x l) matrices stay float32 and are updated in place; only l x l matrices are float64.
    """
    shift = float(np.sqrt(y.shape[0]) * np.finfo(np.float32).eps * np.linalg.norm(y))
    y += np.float32(shift) * q
    b = (q.T @ y).astype(np.float64)
    b = (b + b.T) / 2
    try:
        c = la.cholesky(b, lower=True)
        f = y @ la.solve_triangular(c, np.eye(c.shape[0]), lower=True).T.astype(np.float32)  # Y C^-T
        del y
        # the SVD of the tall F from the eigenpairs of the small F^T F
        w, v = la.eigh((f.T @ f).astype(np.float64))
        order = np.argsort(-w)[:k]
        w, v = np.maximum(w[order], 0.0), v[:, order]
        scale = np.where(w > 0, 1.0 / np.sqrt(np.where(w > 0, w, 1.0)), 0.0)
        u = f @ (v * scale).astype(np.float32)
        eig = np.maximum(w - shift, 0.0)
    except la.LinAlgError:  # rank-deficient sketch (tiny corpus): plain Rayleigh-Ritz on span(Q)
        w, v = la.eigh(b)
        order = np.argsort(-w)[:k]
        u, eig = q @ v[:, order].astype(np.float32), np.maximum(w[order] - shift, 0.0)
    # deterministic signs: the largest loading of each component is positive (as scikit-learn's svd_flip)
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    signs[signs == 0] = 1
    u *= signs.astype(np.float32)
    return u, np.sqrt(eig)
