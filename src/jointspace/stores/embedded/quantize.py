"""Compact search codes for large collections: int8 scalar quantisation and binary (sign bit) codes.

Why: float32 vectors cost 4 bytes a dimension; held in memory for search at millions of items that is
the limit. The codes here are what the search structure holds, while the full-precision vectors stay in
SQLite (the truth) and, for rescoring, in the memory-mapped vector cache (``vector_cache``):

* ``Int8Codes``: one byte a dimension (4x smaller). Each dimension's range ``[min, max]`` is learned from
  the data by ``fit``; a value is stored as one of 256 steps of it (FAISS ``ScalarQuantizer`` QT_8bit
  with those ranges), and queries are scored against the decoded codes (asymmetric: the query stays float).
* ``BinaryCodes``: one bit a dimension (32x smaller): the sign of each component after subtracting the
  per-dimension mean learned by ``fit`` (``center=False`` for the raw sign); Hamming distance between the
  query's bits and each row's (FAISS ``IndexBinaryFlat``).

``search(..., float_vectors=V, rescore=r)`` takes the best ``r * k`` candidates by code and re-ranks them by
the exact inner product with ``V`` (the same rows as the codes; an ``np.memmap`` is fine, only the
candidates' rows are read), so the scores returned are exact and only the candidate set is approximate.
Without ``float_vectors`` the scores are the codes' estimates (int8: the inner product with the decoded
vector; binary: ``1 - 2 * hamming / bits``, the cosine of two sign vectors).

Positions are 0..n-1 in the order added, as in ``jointspace.index``; ``remove`` masks rows out and
``allowed`` restricts a search before ranking (k hits whenever k rows pass). ``save``/``load`` keep the codes
next to the collection by atomic rename, tagged with the table's generation; ``load`` returns None when
the generation (or anything else) does not match, and the caller refits from the table.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import faiss
import numpy as np

from jointspace.errors import JointspaceError
from jointspace.ranking import top_k
from jointspace.stores.embedded.vector_cache import write_atomic

MAGIC = b"JSQUANT1"
#: rows per chunk when fitting ranges or encoding (so a memmap source is never loaded whole)
CHUNK = 65536
#: queries re-scored together (bounds the (queries, candidates, dim) gather)
RESCORE_BATCH = 32


def _as_matrix(vectors: np.ndarray, dim: int | None, what: str) -> np.ndarray:
    arr = np.asarray(vectors)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        raise JointspaceError(f"{what} of shape {arr.shape} do not fit codes of dim {dim}")
    return arr


class _Codes:
    """What both code kinds share: positions, the alive mask, candidate search, rescoring, files."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.dim: int | None = None
        self.alive = np.zeros(0, dtype=bool)
        self._index: Any = None

    # -- to be provided by each kind ----------------------------------------------------------------
    def _new_index(self) -> Any:
        raise NotImplementedError

    def _fit(self, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def _encode_queries(self, queries: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _estimate(self, distances: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_params(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def code_size(self) -> int:
        raise NotImplementedError

    def _add_chunk(self, chunk: np.ndarray) -> None:
        raise NotImplementedError

    def _serialize(self) -> np.ndarray:
        raise NotImplementedError

    def _deserialize(self, data: np.ndarray) -> Any:
        raise NotImplementedError

    # -- public -------------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._index is not None

    @property
    def ntotal(self) -> int:
        """Rows added so far, removed ones included (positions run 0..ntotal-1)."""
        return len(self.alive)

    def __len__(self) -> int:
        return int(self.alive.sum())

    def fit(self, vectors: np.ndarray) -> _Codes:
        """Learn the per-dimension parameters from ``vectors`` (n, dim); drops any rows added before."""
        arr = _as_matrix(vectors, None, "vectors")
        if not len(arr):
            raise JointspaceError(f"{self.kind} codes cannot be fitted on 0 vectors")
        self.dim = int(arr.shape[1])
        self._fit(arr)
        self._index = self._new_index()
        self.alive = np.zeros(0, dtype=bool)
        return self

    def _require_fitted(self) -> int:
        if self._index is None or self.dim is None:
            raise JointspaceError(f"{self.kind} codes are not fitted: call fit(vectors) first")
        return self.dim

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Encode and append rows; returns their positions."""
        dim = self._require_fitted()
        arr = _as_matrix(vectors, dim, "vectors")
        start = self.ntotal
        for i in range(0, len(arr), CHUNK):
            self._add_chunk(np.ascontiguousarray(arr[i:i + CHUNK], dtype=np.float32))
        self.alive = np.concatenate([self.alive, np.ones(len(arr), dtype=bool)])
        return np.arange(start, start + len(arr), dtype=np.int64)

    def remove(self, positions: np.ndarray) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) and (positions.min() < 0 or positions.max() >= self.ntotal):
            bad = positions[(positions < 0) | (positions >= self.ntotal)][0]
            raise JointspaceError(f"position {int(bad)} is not a row of these codes ({self.ntotal} rows)")
        self.alive[positions] = False

    @property
    def nbytes(self) -> int:
        """Bytes the search structure holds in memory: the codes, the learned parameters and the alive mask."""
        params = 0
        for value in self._params().values():
            if isinstance(value, list):
                params += 4 * len(value)
        return self.ntotal * self.code_size() + params + self.alive.nbytes

    def search(self, queries: np.ndarray, k: int, float_vectors: np.ndarray | None = None, rescore: int = 4,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, positions) per query, best first; rows with fewer hits are padded with -inf / -1.

        With ``float_vectors`` (``rescore >= 1``) the best ``rescore * k`` candidates by code are re-ranked by
        their exact inner product; ``allowed`` restricts the search to those positions before ranking.
        """
        dim = self._require_fitted()
        if k < 1:
            raise JointspaceError(f"k must be at least 1, not {k}")
        q = np.ascontiguousarray(_as_matrix(queries, dim, "queries"), dtype=np.float32)
        nq = len(q)
        out_s = np.full((nq, k), -np.inf, dtype=np.float32)
        out_p = np.full((nq, k), -1, dtype=np.int64)
        if self.ntotal == 0:
            return out_s, out_p
        rescoring = float_vectors is not None and rescore >= 1
        if rescoring:
            assert float_vectors is not None
            if float_vectors.ndim != 2 or float_vectors.shape[1] != dim or len(float_vectors) < self.ntotal:
                raise JointspaceError(f"float vectors of shape {float_vectors.shape} cannot rescore "
                                      f"{self.ntotal} codes of dim {dim}")
        params, keep = self._selector(allowed)
        n_cand = min(k * (int(rescore) if rescoring else 1), self.ntotal)
        distances, cand = self._index.search(self._encode_queries(q), n_cand, params=params)
        del keep
        cand = cand.astype(np.int64, copy=False)
        if not rescoring:
            est = np.where(cand >= 0, self._estimate(distances), -np.inf).astype(np.float32)
            width = min(k, est.shape[1])
            out_s[:, :width], out_p[:, :width] = est[:, :width], cand[:, :width]
            return out_s, out_p
        assert float_vectors is not None
        for start in range(0, nq, RESCORE_BATCH):
            s, p = self._rescore(q[start:start + RESCORE_BATCH], cand[start:start + RESCORE_BATCH], k,
                                 float_vectors)
            out_s[start:start + len(s), :s.shape[1]], out_p[start:start + len(s), :s.shape[1]] = s, p
        return out_s, out_p

    def _selector(self, allowed: np.ndarray | None) -> tuple[Any, Any]:
        """FAISS search parameters restricting to alive (and allowed) rows, and the buffer they point into."""
        if allowed is None and self.alive.all():
            return None, None
        mask = self.alive.copy()
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if len(allowed) and (allowed.min() < 0 or allowed.max() >= self.ntotal):
                bad = allowed[(allowed < 0) | (allowed >= self.ntotal)][0]
                raise JointspaceError(f"allowed position {int(bad)} is not a row of these codes")
            restrict = np.zeros(self.ntotal, dtype=bool)
            restrict[allowed] = True
            mask &= restrict
        bitmap = np.packbits(mask, bitorder="little")
        params = faiss.SearchParameters()
        params.sel = faiss.IDSelectorBitmap(self.ntotal, faiss.swig_ptr(bitmap))
        return params, (bitmap, params.sel)

    @staticmethod
    def _rescore(q: np.ndarray, cand: np.ndarray, k: int, float_vectors: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        valid = cand >= 0
        safe = np.where(valid, cand, 0)
        rows = np.unique(safe[valid]) if valid.any() else np.zeros(1, dtype=np.int64)
        gathered = np.asarray(float_vectors[rows], dtype=np.float32)  # sorted rows: sequential reads
        where = np.searchsorted(rows, safe)
        exact = np.einsum("qcd,qd->qc", gathered[where], q)
        exact = np.where(valid, exact, -np.inf).astype(np.float32)
        scores, local = top_k(exact, k)
        positions = np.take_along_axis(cand, local, axis=1)
        positions = np.where(np.isfinite(scores), positions, -1)
        return scores, positions

    # -- files --------------------------------------------------------------------------------------
    def save(self, path: str | Path, generation: int) -> None:
        """Write the codes for table state ``generation`` by atomic rename (tmp + fsync + rename)."""
        dim = self._require_fitted()
        index_bytes = self._serialize()
        alive = self.alive.astype(np.uint8)
        header = json.dumps({"kind": self.kind, "generation": int(generation), "dim": dim, "ntotal": self.ntotal,
                             "params": self._params(), "index_bytes": int(index_bytes.nbytes)}).encode()

        def body(fh: BinaryIO) -> None:
            fh.write(MAGIC)
            fh.write(struct.pack("<I", len(header)))
            fh.write(header)
            fh.write(alive.tobytes())
            fh.write(index_bytes.tobytes())

        write_atomic(path, body)

    @classmethod
    def load(cls, path: str | Path, generation: int) -> Any:
        """The codes saved for ``generation``, or None when the file is missing, damaged, or of another state."""
        try:
            with open(path, "rb") as fh:
                if fh.read(len(MAGIC)) != MAGIC:
                    return None
                (size,) = struct.unpack("<I", fh.read(4))
                if size > 1 << 24:
                    return None
                header = json.loads(fh.read(size).decode())
                if header.get("kind") != cls.kind or header.get("generation") != int(generation):
                    return None
                ntotal, nbytes = int(header["ntotal"]), int(header["index_bytes"])
                alive = np.frombuffer(fh.read(ntotal), dtype=np.uint8)
                data = np.frombuffer(fh.read(nbytes), dtype=np.uint8)
                if len(alive) != ntotal or len(data) != nbytes or fh.read(1):
                    return None
            codes = cls.__new__(cls)
            _Codes.__init__(codes)
            codes.dim = int(header["dim"])
            codes._set_params(header["params"])
            codes._index = codes._deserialize(data.copy())
            if codes._index.ntotal != ntotal or codes._index.d != codes._index_dim():
                return None
            codes.alive = alive.astype(bool)
            return codes
        except (OSError, ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError, RuntimeError):
            return None

    def _index_dim(self) -> int:
        return int(self.dim or 0)


class Int8Codes(_Codes):
    """One byte a dimension, per-dimension ranges learned from the data; see the module docstring."""

    kind = "int8"

    def __init__(self) -> None:
        super().__init__()
        self.vmin: np.ndarray | None = None
        self.vdiff: np.ndarray | None = None

    def _fit(self, vectors: np.ndarray) -> None:
        lo = np.full(vectors.shape[1], np.inf, dtype=np.float64)
        hi = np.full(vectors.shape[1], -np.inf, dtype=np.float64)
        for i in range(0, len(vectors), CHUNK):
            chunk = np.asarray(vectors[i:i + CHUNK], dtype=np.float32)
            if not np.isfinite(chunk).all():
                raise JointspaceError(f"vectors {i}..{i + len(chunk) - 1}: a value is not a finite number")
            lo, hi = np.minimum(lo, chunk.min(axis=0)), np.maximum(hi, chunk.max(axis=0))
        self.vmin = lo.astype(np.float32)
        self.vdiff = np.maximum(hi - lo, 1e-12).astype(np.float32)

    def _new_index(self) -> Any:
        assert self.dim is not None and self.vmin is not None and self.vdiff is not None
        index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(np.concatenate([self.vmin, self.vdiff]).astype(np.float32), index.sq.trained)
        index.is_trained = True
        return index

    def _add_chunk(self, chunk: np.ndarray) -> None:
        self._index.add(chunk)

    def _encode_queries(self, queries: np.ndarray) -> np.ndarray:
        return queries

    def _estimate(self, distances: np.ndarray) -> np.ndarray:
        return distances

    def code_size(self) -> int:
        return int(self.dim or 0)

    def decode(self, positions: np.ndarray) -> np.ndarray:
        """The vectors the codes of ``positions`` stand for (each component one of 256 steps of its range)."""
        self._require_fitted()
        codes = faiss.vector_to_array(self._index.codes).reshape(self.ntotal, self.code_size())
        return self._index.sa_decode(np.ascontiguousarray(codes[np.asarray(positions, dtype=np.int64)]))

    def _params(self) -> dict[str, Any]:
        assert self.vmin is not None and self.vdiff is not None
        return {"vmin": self.vmin.tolist(), "vdiff": self.vdiff.tolist()}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.vmin = np.asarray(params["vmin"], dtype=np.float32)
        self.vdiff = np.asarray(params["vdiff"], dtype=np.float32)

    def _serialize(self) -> np.ndarray:
        return faiss.serialize_index(self._index)

    def _deserialize(self, data: np.ndarray) -> Any:
        return faiss.deserialize_index(data)


class BinaryCodes(_Codes):
    """One bit a dimension: the sign after centring by the learned per-dimension mean; Hamming distance."""

    kind = "binary"

    def __init__(self, center: bool = True) -> None:
        super().__init__()
        self.center = center
        self.mean: np.ndarray | None = None

    @property
    def bits(self) -> int:
        return (int(self.dim or 0) + 7) // 8 * 8

    def _fit(self, vectors: np.ndarray) -> None:
        total = np.zeros(vectors.shape[1], dtype=np.float64)
        for i in range(0, len(vectors), CHUNK):
            chunk = np.asarray(vectors[i:i + CHUNK], dtype=np.float32)
            if not np.isfinite(chunk).all():
                raise JointspaceError(f"vectors {i}..{i + len(chunk) - 1}: a value is not a finite number")
            total += chunk.sum(axis=0)
        self.mean = (total / len(vectors)).astype(np.float32) if self.center else np.zeros(
            vectors.shape[1], dtype=np.float32)

    def _new_index(self) -> Any:
        return faiss.IndexBinaryFlat(self.bits)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Packed sign bits (n, bits / 8) of ``vectors``."""
        assert self.mean is not None
        return np.packbits(np.asarray(vectors, dtype=np.float32) > self.mean, axis=1)

    def _add_chunk(self, chunk: np.ndarray) -> None:
        self._index.add(self.encode(chunk))

    def _encode_queries(self, queries: np.ndarray) -> np.ndarray:
        return self.encode(queries)

    def _estimate(self, distances: np.ndarray) -> np.ndarray:
        return 1.0 - 2.0 * distances.astype(np.float32) / self.bits

    def code_size(self) -> int:
        return self.bits // 8

    def _params(self) -> dict[str, Any]:
        assert self.mean is not None
        return {"mean": self.mean.tolist(), "center": self.center}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.mean = np.asarray(params["mean"], dtype=np.float32)
        self.center = bool(params["center"])

    def _serialize(self) -> np.ndarray:
        return faiss.serialize_index_binary(self._index)

    def _deserialize(self, data: np.ndarray) -> Any:
        return faiss.deserialize_index_binary(data)

    def _index_dim(self) -> int:
        return self.bits


CODE_KINDS: dict[str, type[_Codes]] = {"int8": Int8Codes, "binary": BinaryCodes}


def make_codes(kind: str) -> _Codes:
    """Unfitted codes of ``kind`` ("int8" or "binary")."""
    if kind not in CODE_KINDS:
        raise JointspaceError(f"unknown quantize {kind!r}; use one of {', '.join(CODE_KINDS)}")
    return CODE_KINDS[kind]()
