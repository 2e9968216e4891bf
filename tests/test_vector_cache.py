"""The memory-mapped vector cache: round trip, and refusal (None) whenever it does not describe the table."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from jointspace.errors import JointspaceError
from jointspace.stores.embedded import vector_cache


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, 48)).astype(np.float32)
    rowids = np.sort(rng.choice(10**6, 1000, replace=False)).astype(np.int64)
    return rowids, vectors


def test_round_trip_is_a_read_only_memmap(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    rowids, vectors = data
    path = tmp_path / "vectors.cache"
    vector_cache.write(path, 7, rowids, vectors)
    opened = vector_cache.open(path, 7, dim=48)
    assert opened is not None
    got_rowids, got = opened
    assert isinstance(got, np.memmap) and got.dtype == np.float32 and not got.flags.writeable
    assert np.array_equal(got_rowids, rowids) and np.array_equal(np.asarray(got), vectors)
    assert vector_cache.read_header(path)["count"] == 1000
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.cache"]  # no temporary file left behind


def test_a_memmap_source_is_copied_in_chunks(tmp_path: Path, data: tuple[np.ndarray, np.ndarray],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rowids, vectors = data
    np.save(tmp_path / "src.npy", vectors)
    monkeypatch.setattr(vector_cache, "WRITE_CHUNK", 64)
    vector_cache.write(tmp_path / "c", 1, rowids, np.load(tmp_path / "src.npy", mmap_mode="r"))
    opened = vector_cache.open(tmp_path / "c", 1)
    assert opened is not None and np.array_equal(np.asarray(opened[1]), vectors)


def test_refused_when_it_does_not_describe_the_table(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    rowids, vectors = data
    path = tmp_path / "vectors.cache"
    assert vector_cache.open(path, 0) is None  # missing
    vector_cache.write(path, 3, rowids, vectors)
    assert vector_cache.open(path, 4) is None  # another generation of the table
    assert vector_cache.open(path, 3, dim=384) is None  # another encoder dimension
    raw = path.read_bytes()

    def damaged(content: bytes) -> None | tuple[np.ndarray, np.ndarray]:
        path.write_bytes(content)
        return vector_cache.open(path, 3)

    assert damaged(raw[:-4]) is None  # truncated: one vector short
    assert damaged(raw + b"\0" * 192) is None  # a row longer than its header says
    assert damaged(b"XXXXXXXX" + raw[8:]) is None  # not a cache file
    assert damaged(raw[:12] + b"[" + raw[13:]) is None  # header no longer JSON
    (size,) = struct.unpack("<I", raw[8:12])
    header = json.loads(raw[12:12 + size])
    flipped = bytearray(raw)
    flipped[header["rowids_offset"] + 3] ^= 0xFF  # a rowid changed: the checksum catches it
    assert damaged(bytes(flipped)) is None
    header["count"] = 999  # a count that would still fit a shorter file
    forged = raw[:12] + json.dumps(header).encode().ljust(size) + raw[12 + size:]
    assert damaged(forged) is None
    assert damaged(raw) is not None


def test_rewrite_is_atomic_for_readers(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    rowids, vectors = data
    path = tmp_path / "vectors.cache"
    vector_cache.write(path, 1, rowids, vectors)
    old = vector_cache.open(path, 1)
    assert old is not None
    vector_cache.write(path, 2, rowids[:10], vectors[:10] * 2)
    assert np.array_equal(np.asarray(old[1]), vectors)  # an open reader keeps the file it mapped
    new = vector_cache.open(path, 2)
    assert new is not None and len(new[1]) == 10 and vector_cache.open(path, 1) is None


class _FailsHalfway(np.ndarray):
    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, slice) and (key.start or 0) > 0:
            raise OSError("disk full")
        return np.asarray(self).__getitem__(key)


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, data: tuple[np.ndarray, np.ndarray],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rowids, vectors = data
    path = tmp_path / "vectors.cache"
    vector_cache.write(path, 1, rowids, vectors)
    monkeypatch.setattr(vector_cache, "WRITE_CHUNK", 100)
    with pytest.raises(OSError, match="disk full"):
        vector_cache.write(path, 2, rowids, vectors.view(_FailsHalfway))
    opened = vector_cache.open(path, 1)
    assert opened is not None and np.array_equal(np.asarray(opened[1]), vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.cache"]


def test_empty_and_bad_shapes(tmp_path: Path) -> None:
    vector_cache.write(tmp_path / "e", 0, np.zeros(0, np.int64), np.zeros((0, 8), np.float32))
    opened = vector_cache.open(tmp_path / "e", 0, dim=8)
    assert opened is not None and opened[1].shape == (0, 8)
    with pytest.raises(JointspaceError, match="3 rowids for 2 vectors"):
        vector_cache.write(tmp_path / "x", 0, np.arange(3), np.zeros((2, 8), np.float32))
    with pytest.raises(JointspaceError, match="expected"):
        vector_cache.write(tmp_path / "x", 0, np.arange(3), np.zeros(3, np.float32))
