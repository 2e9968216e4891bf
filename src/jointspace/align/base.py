"""What every alignment method shares: checked paired inputs, pair groups, and the estimator contract.

An aligner learns, from n pairs (left[i], right[i]) of vectors from two encoders, one map per side
into a shared space of ``dim`` dimensions: ``fit(left, right)``, then ``transform_left`` /
``transform_right`` give L2-normalised float32 rows. Fitted state is a dict of numpy arrays, so a
saved space loads without torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from jointspace.encoders.base import l2_normalise
from jointspace.errors import JointspaceError, NotFittedError

# called as progress(step, total, info); info holds e.g. the held-out recall after an epoch
Progress = Callable[[int, int, dict[str, float]], None]


def as_matrix(vectors: Any, side: str) -> np.ndarray:
    """A 2-D float32 array; a clear error naming the side and the first bad row otherwise."""
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise JointspaceError(f"{side} vectors: not a numeric matrix ({exc})") from exc
    if matrix.ndim != 2:
        raise JointspaceError(f"{side} vectors: expected a 2-D array (pairs x dim), got shape {matrix.shape}")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        raise JointspaceError(f"{side} vectors: row {int(bad[0])} holds NaN or inf ({len(bad)} such rows)")
    return matrix


def check_pairs(left: Any, right: Any, min_pairs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as float32 matrices with the same number of rows, enough pairs, and some variety."""
    left, right = as_matrix(left, "left"), as_matrix(right, "right")
    if len(left) != len(right):
        raise JointspaceError(f"{len(left)} left vectors but {len(right)} right vectors: pairs must match 1:1")
    if len(left) < min_pairs:
        raise JointspaceError(f"{len(left)} pairs: this method needs at least {min_pairs}")
    for name, matrix in (("left", left), ("right", right)):
        if len(np.unique(matrix, axis=0)) < 2:
            raise JointspaceError(f"all {len(matrix)} {name} items are identical (one class only): "
                                  "alignment needs pairs of at least two different items")
    return left, right


def row_keys(matrix: np.ndarray) -> np.ndarray:
    """An integer per row; equal rows get equal keys."""
    return np.unique(np.ascontiguousarray(matrix), axis=0, return_inverse=True)[1].ravel()


def pair_groups(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Group id per pair: pairs sharing a left item or a right item are one group (they match each other).

    Many-to-one data (10,000 images paired with 10 class descriptions) then has 10 groups; one-to-one
    data has one group per pair.
    """
    n = len(left)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for keys in (row_keys(left), row_keys(right)):
        first: dict[int, int] = {}
        for i, key in enumerate(keys.tolist()):
            if key in first:
                a, b = find(i), find(first[key])
                if a != b:
                    parent[a] = b
            else:
                first[key] = i
    roots = np.array([find(i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1].ravel()


def check_groups(groups: Any, n: int) -> np.ndarray:
    """Group labels (class per pair) as integer codes; an error when they do not fit or hold one class."""
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise JointspaceError(f"groups: expected {n} labels (one per pair), got shape {labels.shape}")
    codes = np.unique(labels, return_inverse=True)[1].ravel()
    if codes.max(initial=0) < 1:
        raise JointspaceError(f"all {n} pairs belong to one class ({labels[0]!r}): alignment needs at least two")
    return codes


def pca_basis(centred: np.ndarray, dim: int) -> np.ndarray:
    """The top ``dim`` principal directions (columns) of centred rows."""
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    basis = vt[:dim].T
    if basis.shape[1] < dim:  # fewer rows than dims: pad with zero directions
        basis = np.hstack([basis, np.zeros((basis.shape[0], dim - basis.shape[1]))])
    return basis


class Aligner:
    """Base class: subclasses set ``name``, implement ``_fit``, ``_map`` and keep their state in ``state``."""

    name: ClassVar[str] = ""
    min_pairs: ClassVar[int] = 3

    def __init__(self) -> None:
        self.state: dict[str, np.ndarray] = {}

    def get_params(self) -> dict[str, Any]:
        # a parameter named like a property (``dim``) is kept as ``<name>_param``
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, f"{p}_param") if hasattr(self, f"{p}_param") else getattr(self, p)
                for p in sig.parameters if p != "self"}

    @property
    def is_fitted(self) -> bool:
        return bool(self.state)

    @property
    def dim(self) -> int:
        self._require_fitted()
        return int(self.state["out_dim"])

    @property
    def in_dims(self) -> tuple[int, int]:
        self._require_fitted()
        return int(self.state["left_dim"]), int(self.state["right_dim"])

    def fit(self, left: Any, right: Any, groups: Any = None, progress: Progress | None = None) -> Aligner:
        left, right = check_pairs(left, right, self.min_pairs)
        if groups is None:
            codes = pair_groups(left, right)
            if codes.max(initial=0) < 1:
                raise JointspaceError(f"all {len(left)} pairs share items with each other (one class only): "
                                      "alignment needs at least two groups of pairs that differ")
        else:
            codes = check_groups(groups, len(left))
        self.state = {}
        state = self._fit(left, right, codes, progress)
        state["left_dim"] = np.array(left.shape[1])
        state["right_dim"] = np.array(right.shape[1])
        self.state = state
        return self

    def transform(self, vectors: Any, side: str) -> np.ndarray:
        """Map one side's encoder vectors into the joint space (unit length, float32)."""
        self._require_fitted()
        if side not in ("left", "right"):
            raise JointspaceError(f"side must be 'left' or 'right', got {side!r}")
        matrix = as_matrix(vectors, side)
        expected = self.in_dims[0 if side == "left" else 1]
        if matrix.shape[1] != expected:
            raise JointspaceError(f"{side} vectors of dim {matrix.shape[1]}; this space was fitted on dim {expected}")
        if not len(matrix):
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(self._map(matrix.astype(np.float64), side))

    def transform_left(self, vectors: Any) -> np.ndarray:
        return self.transform(vectors, "left")

    def transform_right(self, vectors: Any) -> np.ndarray:
        return self.transform(vectors, "right")

    def fit_transform(self, left: Any, right: Any, groups: Any = None) -> tuple[np.ndarray, np.ndarray]:
        self.fit(left, right, groups)
        return self.transform_left(left), self.transform_right(right)

    def _require_fitted(self) -> None:
        if not self.state:
            raise NotFittedError(f"aligner {self.name!r} must be fitted before use")

    def _fit(self, left: np.ndarray, right: np.ndarray, groups: np.ndarray,
             progress: Progress | None) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _map(self, vectors: np.ndarray, side: str) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
