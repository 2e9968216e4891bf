"""Regularised canonical correlation analysis into a chosen dimension.

CCA finds directions in each space whose projections correlate most across the pairs. Covariances are
shrunk towards a scaled identity (``reg`` in [0, 1]), which keeps them invertible when pairs are few
or dims are many. Each canonical direction is weighted by its correlation (``weight_power``), so the
many weakly correlated directions do not drown the few strong ones at search time.
"""

from __future__ import annotations

import numpy as np

from jointspace.align.base import Aligner, Progress, pca_basis
from jointspace.errors import JointspaceError


def _inv_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 1e-12, None)
    return (vectors / np.sqrt(values)) @ vectors.T


def _shrunk_cov(centred: np.ndarray, reg: float) -> np.ndarray:
    cov = centred.T @ centred / max(len(centred) - 1, 1)
    scale = np.trace(cov) / cov.shape[0]
    return (1 - reg) * cov + reg * scale * np.eye(cov.shape[0])


class CCAAligner(Aligner):
    name = "cca"
    min_pairs = 4

    def __init__(self, dim: int = 64, reg: float = 0.1, weight_power: float = 1.0) -> None:
        super().__init__()
        if dim < 1:
            raise JointspaceError(f"cca: dim must be at least 1, got {dim}")
        if not 0 <= reg <= 1:
            raise JointspaceError(f"cca: reg must be in [0, 1], got {reg}")
        self.dim_param = dim
        self.reg = reg
        self.weight_power = weight_power

    def _fit(self, left: np.ndarray, right: np.ndarray, groups: np.ndarray,
             progress: Progress | None) -> dict[str, np.ndarray]:
        left, right = left.astype(np.float64), right.astype(np.float64)
        dim = min(self.dim_param, left.shape[1], right.shape[1], len(left) - 1)
        lmean, rmean = left.mean(axis=0), right.mean(axis=0)
        lc, rc = left - lmean, right - rmean
        # more dims than pairs: work in the span of the data (PCA), which holds all of its covariance
        lbasis = pca_basis(lc, len(lc) - 1) if lc.shape[1] > len(lc) - 1 else np.eye(lc.shape[1])
        rbasis = pca_basis(rc, len(rc) - 1) if rc.shape[1] > len(rc) - 1 else np.eye(rc.shape[1])
        lc, rc = lc @ lbasis, rc @ rbasis
        wl, wr = _inv_sqrt(_shrunk_cov(lc, self.reg)), _inv_sqrt(_shrunk_cov(rc, self.reg))
        cross = lc.T @ rc / max(len(left) - 1, 1)
        u, corr, vt = np.linalg.svd(wl @ cross @ wr, full_matrices=False)
        wl, wr = lbasis @ wl, rbasis @ wr
        weights = np.clip(corr[:dim], 0, None) ** self.weight_power
        if progress:
            progress(1, 1, {})
        return {
            "out_dim": np.array(dim),
            "left_mean": lmean, "right_mean": rmean,
            "left_proj": wl @ u[:, :dim] * weights, "right_proj": wr @ vt[:dim].T * weights,
            "correlations": corr[:dim],
        }

    def _map(self, vectors: np.ndarray, side: str) -> np.ndarray:
        return (vectors - self.state[f"{side}_mean"]) @ self.state[f"{side}_proj"]
