"""A sharded store: N embedded stores under one directory, searched in parallel, merged exactly.

Layout::

    shards.json       format version, shard count, how ids are routed (crc32 of the id, modulo N)
    shard-000/ ...    one embedded store each (same encoder, fields and index settings)

An item lives in exactly one shard (its id decides which), so the k best of the whole collection are
among the k best of each shard: merging the shards' top-k lists by score gives the exact top-k of a
single store holding everything. A write goes to each shard in one transaction per shard. The encoder's
committed state lives in shard 0 only (one commit point).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders import Encoder
from jointspace.errors import FormatError, JointspaceError
from jointspace.results import Hit, WriteReport
from jointspace.stores import filters as flt
from jointspace.stores.base import CONTENT_HASHES, LEXICAL, Row
from jointspace.stores.embedded.store import MANIFEST, EmbeddedStore, write_json_atomic
from jointspace.version import __version__

SHARDS_FILE = "shards.json"
SHARDS_FORMAT = 1


def shard_of(item_id: str, n: int) -> int:
    """The shard an id belongs to: stable across processes and machines (not Python's salted hash)."""
    return zlib.crc32(str(item_id).encode("utf-8")) % n


def merge_top_k(lists: Iterable[list[Hit]], k: int) -> list[Hit]:
    """The k best hits of several shards' lists (each already best first), ties broken by id."""
    merged = [hit for hits in lists for hit in hits]
    merged.sort(key=lambda h: (-h.score, h.id))
    return merged[:k]


def is_sharded(path: Path) -> bool:
    return (path / SHARDS_FILE).exists()


class ShardedStore:
    """The Store protocol over N embedded shards; queries fan out to every shard in parallel threads."""

    kind = "sharded"
    capabilities = frozenset({CONTENT_HASHES, LEXICAL})

    def __init__(self, path: Path, spec: dict[str, Any], shards: list[EmbeddedStore]) -> None:
        self.path, self.spec, self.shards = path, spec, shards
        self.location = str(path)
        self.manifest = shards[0].manifest
        self.dim = shards[0].dim
        self._pool = ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="jointspace-shard")

    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any], encoder: Encoder, shards: int,
               durable: bool | None = None) -> ShardedStore:
        if shards < 1:
            raise JointspaceError(f"a sharded collection needs at least 1 shard, got {shards}")
        path.mkdir(parents=True, exist_ok=True)
        for i in range(shards):
            EmbeddedStore.create(path / f"shard-{i:03d}", manifest, encoder, durable).close()
        spec = {"format": SHARDS_FORMAT, "jointspace": __version__, "shards": shards, "router": "crc32",
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json_atomic(path / SHARDS_FILE, spec, durable)  # last: its presence marks a usable collection
        return cls.open(path, durable)

    @classmethod
    def open(cls, path: Path, durable: bool | None = None) -> ShardedStore:
        try:
            spec = json.loads((path / SHARDS_FILE).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path / SHARDS_FILE}: unreadable ({exc})") from exc
        if not isinstance(spec, dict) or spec.get("format") != SHARDS_FORMAT:
            raise FormatError(f"{path}: sharded format {spec.get('format') if isinstance(spec, dict) else spec!r} "
                              f"is not supported by jointspace {__version__} (it reads format {SHARDS_FORMAT})")
        dirs = [path / f"shard-{i:03d}" for i in range(int(spec["shards"]))]
        missing = [d.name for d in dirs if not (d / MANIFEST).exists()]
        if missing:
            raise FormatError(f"{path}: shard(s) {', '.join(missing)} missing; the collection is incomplete")
        opened: list[EmbeddedStore] = []
        try:
            for d in dirs:
                opened.append(EmbeddedStore.open(d, durable))
        except BaseException:
            for s in opened:
                s.close()
            raise
        return cls(path, spec, opened)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for shard in self.shards:
            shard.close()

    def _shard(self, item_id: object) -> EmbeddedStore:
        return self.shards[shard_of(str(item_id), len(self.shards))]

    def _groups(self, ids: Iterable[str]) -> list[list[str]]:
        groups: list[list[str]] = [[] for _ in self.shards]
        for item_id in ids:
            groups[shard_of(str(item_id), len(self.shards))].append(str(item_id))
        return groups

    # -- the encoder --------------------------------------------------------------------------------
    def load_encoder(self) -> Encoder:
        return self.shards[0].load_encoder()

    def save_encoder(self, encoder: Encoder) -> None:
        self.shards[0].save_encoder(encoder)

    def generation(self) -> int:
        return sum(s.generation() for s in self.shards)

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._shard(item_id)

    def ids(self) -> list[str]:
        return [i for s in self.shards for i in s.ids()]

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for shard, part in zip(self.shards, self._groups(ids), strict=True):
            if part:
                out.update(shard.get(part))
        return out

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        ids = list(ids)
        if not ids:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self._shard(i).vectors([i]) for i in ids])

    def iterate(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        for shard in self.shards:
            yield from shard.iterate(batch_size)

    def search(self, vectors: np.ndarray, k: int, where: Any = None) -> list[list[Hit]]:
        """Every shard searched at the same time, the lists merged (exact)."""
        per_shard = list(self._pool.map(lambda s: s.search(vectors, k, where), self.shards))
        return [merge_top_k((hits[q] for hits in per_shard), k) for q in range(len(per_shard[0]))]

    def catalog(self) -> flt.FieldCatalog:
        catalogs = [s.catalog() for s in self.shards]
        return catalogs[0].merge(*catalogs[1:])

    def ids_where(self, where: Any) -> list[str]:
        return [i for s in self.shards for i in s.ids_where(where)]

    def lexical_search(self, query: str, k: int, where: Any = None, with_terms: bool = True) -> list[Hit]:
        """Each shard's BM25 top k, merged by score (each shard scores with its own term statistics: with
        ids spread evenly by hash they agree closely with one collection's)."""
        per_shard = list(self._pool.map(lambda s: s.lexical_search(query, k, where, with_terms), self.shards))
        return merge_top_k(per_shard, k)

    def ensure_lexical(self, progress: Any = None) -> bool:
        return any([s.ensure_lexical(progress) for s in self.shards])

    # -- writing ------------------------------------------------------------------------------------
    def put(self, rows: Sequence[Row], deadline: float | None = None) -> WriteReport:
        parts: list[list[Row]] = [[] for _ in self.shards]
        for row in rows:
            parts[shard_of(row.id, len(self.shards))].append(row)
        report = WriteReport()
        for shard, part in zip(self.shards, parts, strict=True):
            if part:
                report.merge(shard.put(part, deadline=deadline))
        return report

    def delete(self, ids: Sequence[str], deadline: float | None = None) -> WriteReport:
        report = WriteReport()
        for shard, part in zip(self.shards, self._groups(dict.fromkeys(str(i) for i in ids)), strict=True):
            if part:
                report.merge(shard.delete(part, deadline=deadline))
        return report

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for shard, part in zip(self.shards, self._groups(ids), strict=True):
            if part:
                out.update(shard.content_hashes(part))
        return out

    def field_values(self, name: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for shard in self.shards:
            for value, n in shard.field_values(name).items():
                out[value] = out.get(value, 0) + n
        return out

    def info(self) -> dict[str, Any]:
        facts = [s.info() for s in self.shards]
        return {"path": self.location, "backend": self.kind, "count": sum(f["count"] for f in facts),
                "shards": len(self.shards), "shard_counts": [f["count"] for f in facts],
                "format": self.spec["format"], "generation": self.generation(),
                "bytes_on_disk": sum(f["bytes_on_disk"] for f in facts)}
