"""A sharded collection: N embedded collections under one directory, searched in parallel, merged exactly.

Layout::

    shards.json       format version, shard count, how ids are routed (crc32 of the id, modulo N)
    shard-000/ ...    one embedded collection each (same encoder, fields and index settings)

An item lives in exactly one shard (its id decides which), so the k best of the whole collection are
among the k best of each shard: merging the shards' top-k lists by score gives the exact top-k of a
single collection holding everything. Writes go to each shard in one transaction per shard.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from jointspace import __version__
from jointspace.collection import WRITE_BATCH, Collection, Hit, Progress, WriteReport, _write_json_atomic
from jointspace.encoders import Encoder
from jointspace.encoders import encoder as make_encoder
from jointspace.errors import FormatError, JointspaceError

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


class ShardedCollection:
    """The Collection API over N shards; queries fan out to every shard in parallel threads."""

    def __init__(self, path: Path, spec: dict[str, Any], shards: list[Collection]) -> None:
        self.path, self.spec, self.shards = path, spec, shards
        self.encoder: Encoder = shards[0].encoder
        for shard in shards[1:]:
            shard.encoder = self.encoder  # one model in memory, shared by every shard
        self.manifest = shards[0].manifest
        self.fields: list[str] = self.manifest["fields"]
        self.id_field: str = self.manifest["id_field"]
        self._pool = ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="jointspace-shard")

    @classmethod
    def create(cls, path: str | Path, shards: int = 2, encoder: str | Encoder = "minilm",
               fields: Iterable[str] = ("text",), id_field: str = "id", index: str | dict[str, Any] = "flat",
               overwrite: bool = False, **encoder_params: Any) -> ShardedCollection:
        path = Path(path)
        if shards < 1:
            raise JointspaceError(f"a sharded collection needs at least 1 shard, got {shards}")
        if (path / SHARDS_FILE).exists() or (path / "manifest.json").exists():
            if not overwrite:
                raise JointspaceError(f"{path}: a collection exists already (open it, or overwrite=True)")
            import shutil

            shutil.rmtree(path)
        enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
        path.mkdir(parents=True, exist_ok=True)
        cols = [Collection.create(path / f"shard-{i:03d}", encoder=enc, fields=fields, id_field=id_field,
                                  index=index) for i in range(shards)]
        spec = {"format": SHARDS_FORMAT, "jointspace": __version__, "shards": shards, "router": "crc32",
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_json_atomic(path / SHARDS_FILE, spec)  # last: its presence marks a usable sharded collection
        return cls(path, spec, cols)

    @classmethod
    def open(cls, path: str | Path) -> ShardedCollection:
        path = Path(path)
        try:
            spec = json.loads((path / SHARDS_FILE).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path / SHARDS_FILE}: unreadable ({exc})") from exc
        if spec.get("format") != SHARDS_FORMAT:
            raise FormatError(f"{path}: sharded format {spec.get('format')!r} is not supported by jointspace "
                              f"{__version__} (it reads format {SHARDS_FORMAT})")
        dirs = [path / f"shard-{i:03d}" for i in range(int(spec["shards"]))]
        missing = [d.name for d in dirs if not (d / "manifest.json").exists()]
        if missing:
            raise FormatError(f"{path}: shard(s) {', '.join(missing)} missing; the collection is incomplete")
        return cls(path, spec, [Collection.open(d) for d in dirs])

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for shard in self.shards:
            shard.close()

    def __enter__(self) -> ShardedCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _shard(self, item_id: object) -> Collection:
        return self.shards[shard_of(str(item_id), len(self.shards))]

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._shard(item_id)

    def ids(self) -> list[str]:
        return [i for s in self.shards for i in s.ids()]

    def get(self, item_id: str) -> dict[str, Any]:
        return self._shard(item_id).get(item_id)

    def vectors(self, ids: Iterable[str]) -> np.ndarray:
        ids = list(ids)
        if not ids:
            return np.zeros((0, self.encoder.dim), np.float32)
        return np.concatenate([self._shard(i).vectors([i]) for i in ids])

    def iter_items(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        for shard in self.shards:
            yield from shard.iter_items(batch_size)

    def embed_queries(self, queries: list[str | np.ndarray]) -> np.ndarray:
        return self.shards[0].embed_queries(queries)

    def search(self, query: str | np.ndarray, k: int = 10, where: dict[str, Any] | str | None = None
               ) -> list[Hit]:
        if k < 1:
            raise JointspaceError(f"k must be at least 1, got {k}")
        return self.search_batch([query], k=k, where=where)[0]

    def search_batch(self, queries: list[str | np.ndarray], k: int = 10,
                     where: dict[str, Any] | str | None = None) -> list[list[Hit]]:
        """Queries are embedded once, searched in every shard at the same time, and merged."""
        if not queries:
            return []
        vectors = list(self.embed_queries(queries))
        per_shard = list(self._pool.map(lambda s: s.search_batch(vectors, k=k, where=where), self.shards))
        return [merge_top_k((hits[q] for hits in per_shard), k) for q in range(len(queries))]

    # -- writing ------------------------------------------------------------------------------------
    def _fit(self, records: list[dict[str, Any]]) -> None:
        """Fit an encoder that learns from data once, on all records, and give every shard that state."""
        import shutil

        self.shards[0]._fit_if_needed(records)
        for shard in self.shards[1:]:
            shard.encoder = self.encoder
            tmp = shard.path / "encoder.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self.encoder.save(tmp)
            shutil.rmtree(shard.path / "encoder")
            tmp.replace(shard.path / "encoder")

    def _write(self, records: Iterable[dict[str, Any]], replace: bool, batch_size: int,
               progress: Progress | None, chunk: int = 4096) -> WriteReport:
        if not self.encoder.is_fitted:
            records = list(records)
            self._fit(records)
        report = WriteReport()
        buffer: list[dict[str, Any]] = []

        def flush() -> None:
            parts: list[list[dict[str, Any]]] = [[] for _ in self.shards]
            for record in buffer:
                item_id = record.get(self.id_field)
                parts[shard_of(str(item_id), len(self.shards)) if item_id is not None else 0].append(record)
            for shard, part in zip(self.shards, parts, strict=True):
                if part:
                    sub = shard._write(part, replace=replace, batch_size=batch_size, progress=progress)
                    _merge_reports(report, sub)
            buffer.clear()

        for record in records:
            buffer.append(record)
            if len(buffer) >= chunk:
                flush()
        flush()
        return report

    def add(self, records: Iterable[dict[str, Any]], batch_size: int = WRITE_BATCH,
            progress: Progress | None = None) -> WriteReport:
        return self._write(records, replace=False, batch_size=batch_size, progress=progress)

    def upsert(self, records: Iterable[dict[str, Any]], batch_size: int = WRITE_BATCH,
               progress: Progress | None = None) -> WriteReport:
        return self._write(records, replace=True, batch_size=batch_size, progress=progress)

    def upsert_vectors(self, ids: list[str], fields: list[dict[str, Any]], vectors: np.ndarray,
                       progress: Progress | None = None, chunk: int = 5000) -> WriteReport:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(ids) or len(fields) != len(ids):
            raise JointspaceError(f"vectors of shape {vectors.shape} for {len(ids)} ids and {len(fields)} "
                                  "field sets")
        groups: list[list[int]] = [[] for _ in self.shards]
        for i, item_id in enumerate(ids):
            groups[shard_of(str(item_id), len(self.shards))].append(i)
        report = WriteReport()
        for shard, rows in zip(self.shards, groups, strict=True):
            if rows:
                sub = shard.upsert_vectors([ids[i] for i in rows], [fields[i] for i in rows], vectors[rows],
                                           progress=progress, chunk=chunk)
                _merge_reports(report, sub)
        return report

    def delete(self, ids: Iterable[str]) -> WriteReport:
        groups: list[list[str]] = [[] for _ in self.shards]
        for item_id in ids:
            groups[shard_of(str(item_id), len(self.shards))].append(str(item_id))
        report = WriteReport()
        for shard, part in zip(self.shards, groups, strict=True):
            if part:
                _merge_reports(report, shard.delete(part))
        return report

    def info(self) -> dict[str, Any]:
        facts = [s.info() for s in self.shards]
        return {
            "path": str(self.path),
            "count": sum(f["count"] for f in facts),
            "shards": len(self.shards),
            "shard_counts": [f["count"] for f in facts],
            "format": self.spec["format"],
            "encoder": self.manifest["encoder"],
            "fields": self.fields,
            "index": self.manifest["index"],
            "bytes_on_disk": sum(f["bytes_on_disk"] for f in facts),
        }


def _merge_reports(total: WriteReport, part: WriteReport) -> None:
    total.added += part.added
    total.updated += part.updated
    total.deleted += part.deleted
    total.skipped.extend(part.skipped)
