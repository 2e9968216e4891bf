"""Orthogonal Procrustes: centre both sides, match dimensions by PCA, then the best rotation left -> right.

A rotation keeps the left space's geometry (distances, neighbours) intact and only turns it onto the
right one, so it needs few pairs and cannot overfit much; it also cannot bend one space into the other.
"""

from __future__ import annotations

import numpy as np

from jointspace.align.base import Aligner, Progress, pca_basis


class ProcrustesAligner(Aligner):
    """``dim``: the shared dimension (default: the smaller input dim, at most pairs - 1).

    ``normalise``: scale centred rows to unit length before fitting the rotation (as in
    cross-lingual word-vector alignment), so a few long vectors do not dominate.
    """

    name = "procrustes"
    min_pairs = 3

    def __init__(self, dim: int | None = None, normalise: bool = True) -> None:
        super().__init__()
        self.dim_param = dim
        self.normalise = normalise

    def _prepare(self, vectors: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
        out = (vectors - mean) @ basis
        if self.normalise:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return out

    def _fit(self, left: np.ndarray, right: np.ndarray, groups: np.ndarray,
             progress: Progress | None) -> dict[str, np.ndarray]:
        left, right = left.astype(np.float64), right.astype(np.float64)
        dim = self.dim_param or min(left.shape[1], right.shape[1], len(left) - 1)
        dim = max(1, min(dim, left.shape[1], right.shape[1]))
        state: dict[str, np.ndarray] = {"out_dim": np.array(dim)}
        for side, matrix in (("left", left), ("right", right)):
            mean = matrix.mean(axis=0)
            if matrix.shape[1] == dim and self.dim_param is None:
                basis = np.eye(dim)  # dims already match: a pure rotation, no PCA
            else:
                basis = pca_basis(matrix - mean, dim)
            state[f"{side}_mean"], state[f"{side}_basis"] = mean, basis
        a = self._prepare(left, state["left_mean"], state["left_basis"])
        b = self._prepare(right, state["right_mean"], state["right_basis"])
        u, _, vt = np.linalg.svd(a.T @ b)
        state["rotation"] = u @ vt  # argmin over orthogonal R of ||a R - b||
        if progress:
            progress(1, 1, {})
        return state

    def _map(self, vectors: np.ndarray, side: str) -> np.ndarray:
        s = self.state
        out = self._prepare(vectors, s[f"{side}_mean"], s[f"{side}_basis"])
        return out @ s["rotation"] if side == "left" else out
