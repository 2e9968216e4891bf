"""Instant open: the vector matrix as a memory-mapped file derived from the items table.

Why: reading every vector BLOB out of SQLite into a new matrix made a fresh process's first search of a
1,000,000-item collection take seconds. This file holds the same rows (rowids + float32 vectors) in the
layout numpy maps directly, so opening costs a header read, and the pages come in as searches touch them.

SQLite stays the truth. The file says which state of the table it was derived from (the collection's
``generation`` counter), and ``open`` returns None unless that generation, the dimension, the magic, the
header and the exact file size all agree, so the caller rebuilds it from the table: a cache is never
trusted on a row count. It is written whole to a temporary file, fsynced, then renamed over the old one,
so a reader sees either the old complete file or the new complete file.

Layout (little-endian)::

    magic  b"JSVECS01"   8 bytes
    header_len           uint32
    header               JSON {"generation", "count", "dim", "dtype", "rowids_offset", "vectors_offset",
                         "rowids_crc32"}, padded with spaces
    rowids               int64[count]      at rowids_offset (64-byte aligned)
    vectors              float32[count, dim] at vectors_offset (4096-byte aligned)
"""

from __future__ import annotations

import builtins
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from jointspace.errors import JointspaceError

MAGIC = b"JSVECS01"
#: rows per chunk when copying vectors into the file (so a memmap source is never loaded whole)
WRITE_CHUNK = 65536


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync it, rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with builtins.open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _header_bytes(header: dict[str, Any], size: int) -> bytes:
    body = json.dumps(header, sort_keys=True).encode()
    if len(body) > size:
        raise JointspaceError("vector cache header does not fit")  # cannot happen with the sizes below
    return body.ljust(size, b" ")


def write(path: str | Path, generation: int, rowids: np.ndarray, vectors: np.ndarray | Iterable[np.ndarray]
          ) -> None:
    """Write the cache for table state ``generation``: ``rowids[i]`` is the items rowid of ``vectors[i]``.

    ``vectors`` is a (count, dim) array (an ``np.memmap`` is copied in chunks).
    """
    rowids = np.ascontiguousarray(rowids, dtype="<i8").ravel()
    vectors_arr = vectors if isinstance(vectors, np.ndarray) else np.asarray(list(vectors))
    if vectors_arr.ndim != 2:
        raise JointspaceError(f"vectors of shape {vectors_arr.shape}: expected (count, dim)")
    count, dim = (int(x) for x in vectors_arr.shape)
    if len(rowids) != count:
        raise JointspaceError(f"{len(rowids)} rowids for {count} vectors")
    if count and dim < 1:
        raise JointspaceError("vectors of dimension 0")
    header_size = 512
    rowids_offset = _align(len(MAGIC) + 4 + header_size, 64)
    vectors_offset = _align(rowids_offset + 8 * count, 4096)
    header = {"generation": int(generation), "count": count, "dim": dim, "dtype": "float32",
              "rowids_offset": rowids_offset, "vectors_offset": vectors_offset,
              "rowids_crc32": zlib.crc32(rowids.tobytes())}

    def body(fh: BinaryIO) -> None:
        fh.write(MAGIC)
        fh.write(struct.pack("<I", header_size))
        fh.write(_header_bytes(header, header_size))
        fh.write(b"\0" * (rowids_offset - fh.tell()))
        fh.write(rowids.tobytes())
        fh.write(b"\0" * (vectors_offset - fh.tell()))
        for start in range(0, count, WRITE_CHUNK):
            chunk = np.ascontiguousarray(vectors_arr[start:start + WRITE_CHUNK], dtype="<f4")
            fh.write(chunk.tobytes())

    write_atomic(path, body)


def read_header(path: str | Path) -> dict[str, Any] | None:
    """The header of a cache file, or None when the file is missing, not a cache, or its header is damaged."""
    try:
        with builtins.open(path, "rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                return None
            (size,) = struct.unpack("<I", fh.read(4))
            if size > 1 << 20:
                return None
            header = json.loads(fh.read(size).decode())
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None
    needed = {"generation", "count", "dim", "dtype", "rowids_offset", "vectors_offset", "rowids_crc32"}
    if not isinstance(header, dict) or not needed <= header.keys() or header["dtype"] != "float32":
        return None
    return header


def open(path: str | Path, generation: int, dim: int | None = None
         ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rowids, vectors)`` with ``vectors`` a read-only ``np.memmap``, or None when the file is not usable.

    None when the file is missing or damaged, was derived from another ``generation`` of the table, has
    another ``dim`` (when given), or its size is not exactly what its header says.
    """
    path = Path(path)
    header = read_header(path)
    if header is None or header["generation"] != int(generation):
        return None
    count, d = int(header["count"]), int(header["dim"])
    if (dim is not None and d != int(dim)) or count < 0 or d < 0:
        return None
    ro, vo = int(header["rowids_offset"]), int(header["vectors_offset"])
    try:
        if path.stat().st_size != vo + 4 * count * d or vo < ro + 8 * count:
            return None
        rowids = np.fromfile(path, dtype="<i8", count=count, offset=ro)
    except (OSError, ValueError):
        return None
    if len(rowids) != count or zlib.crc32(rowids.tobytes()) != header["rowids_crc32"]:
        return None
    if count == 0 or d == 0:
        return rowids.astype(np.int64), np.zeros((count, d), dtype=np.float32)
    vectors = np.memmap(path, dtype="<f4", mode="r", offset=vo, shape=(count, d))
    return rowids.astype(np.int64, copy=False), vectors
