"""Vector indexes behind one interface: exact inner product (default) and FAISS HNSW.

Rows are addressed by *position* (0..n-1 in insertion order); the collection maps positions to ids.
Deleted rows stay in place, masked out, until the collection compacts (reloads) them away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from jointspace.errors import JointspaceError
from jointspace.ranking import top_k

INDEX_KINDS = ("flat", "hnsw")


class VectorIndex:
    """Exact search (``kind="flat"``) or approximate HNSW (``kind="hnsw"``) over unit vectors."""

    def __init__(self, dim: int, kind: str = "flat", m: int = 32, ef_construction: int = 200,
                 ef_search: int = 128, quantize: str | None = None, rescore: int = 4) -> None:
        if kind not in INDEX_KINDS:
            raise JointspaceError(f"unknown index kind {kind!r}; use one of {INDEX_KINDS}")
        self.dim, self.kind = dim, kind
        if quantize not in (None, "int8", "binary"):
            raise JointspaceError(f"unknown quantize {quantize!r}; use int8 or binary (or leave it out)")
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.quantize, self.rescore = quantize, rescore
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self._hnsw: Any = None

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, **params: Any) -> VectorIndex:
        """An index over an existing (n, dim) float32 matrix (e.g. a read-only memory map), not copied."""
        index = cls(int(matrix.shape[1]), **params)
        index.vectors = matrix
        index.alive = np.ones(len(matrix), dtype=bool)
        return index

    @property
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "hnsw":
            out.update(m=self.m, ef_construction=self.ef_construction, ef_search=self.ef_search)
        return out

    def __len__(self) -> int:
        return int(self.alive.sum())

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Append rows; returns their positions."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise JointspaceError(f"vectors of shape {vectors.shape} do not fit an index of dim {self.dim}")
        start = len(self.vectors)
        self.vectors = np.concatenate([self.vectors, vectors]) if start else vectors.copy()
        self.alive = np.concatenate([self.alive, np.ones(len(vectors), dtype=bool)])
        if self._hnsw is not None:
            self._hnsw.add(vectors)
        return np.arange(start, start + len(vectors))

    def remove(self, positions: np.ndarray) -> None:
        self.alive[np.asarray(positions, dtype=np.int64)] = False

    # -- HNSW -------------------------------------------------------------------------------------
    def _build_hnsw(self) -> Any:
        hnsw = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.ef_construction
        if len(self.vectors):
            hnsw.add(self.vectors)
        return hnsw

    def hnsw(self) -> Any:
        if self._hnsw is None:
            self._hnsw = self._build_hnsw()
        return self._hnsw

    def save_hnsw(self, path: Path) -> None:
        if self._hnsw is not None:
            tmp = path.with_suffix(".tmp")
            faiss.write_index(self._hnsw, str(tmp))
            tmp.replace(path)

    def load_hnsw(self, path: Path) -> bool:
        """Use a saved HNSW graph when it covers exactly the current rows; False when it does not."""
        if not path.exists():
            return False
        try:
            hnsw = faiss.read_index(str(path))
        except RuntimeError:  # a damaged cache file: rebuilt from the vectors, never trusted
            return False
        if hnsw.ntotal != len(self.vectors) or hnsw.d != self.dim:
            return False
        self._hnsw = hnsw
        return True

    # -- search -----------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, positions) per query among alive rows, restricted to ``allowed`` positions.

        With a restriction the ranking is over exactly the allowed rows, so k hits come back
        whenever k rows pass the filter (a filter applied before ranking, not after).
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dim:
            raise JointspaceError(f"query of dim {queries.shape[1]} for an index of dim {self.dim}")
        if allowed is None and not self.alive.all():
            allowed = np.flatnonzero(self.alive)
        if self.kind == "hnsw" and len(self.vectors):
            return self._search_hnsw(queries, k, allowed)
        if allowed is None:
            return top_k(queries @ self.vectors.T if len(queries) > 1 else
                         (self.vectors @ queries[0])[None, :], k)
        allowed = np.asarray(allowed, dtype=np.int64)
        scores, local = top_k(queries @ self.vectors[allowed].T, k)
        return scores, allowed[local]

    def _search_hnsw(self, queries: np.ndarray, k: int, allowed: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
        index = self.hnsw()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        if allowed is not None:
            if len(allowed) <= 4 * k:  # a tiny allowed set: exact search over it is cheaper and exact
                allowed = np.asarray(allowed, dtype=np.int64)
                scores, local = top_k(queries @ self.vectors[allowed].T, k)
                return scores, allowed[local]
            params.sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        # rows with fewer than k hits come back padded with position -1; callers drop those
        return index.search(queries, min(k, len(self.vectors)), params=params)
