"""Copy a collection from one store to another (directory <-> PostgreSQL, or into a sharded directory).

Vectors are copied, never re-encoded, so the copy searches exactly as the original; the encoder travels
with its fitted state. Into an existing collection, items are upserted by id (same encoder required).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.collection import Progress, WriteReport
from jointspace.errors import JointspaceError
from jointspace.sharded import _merge_reports
from jointspace.stores import exists, is_database_url, open_or_create


def migrate(source: str | Path, target: str | Path, index: str | None = None, shards: int | None = None,
            batch_size: int = 100_000, progress: Progress | None = None) -> WriteReport:
    """Copy every item of ``source`` into ``target``; returns what the target's writes did."""
    from jointspace.collection import Collection

    if str(source) == str(target):
        raise JointspaceError("source and target are the same collection")
    src = Collection.open(source)
    try:
        if exists(target):
            dst = Collection.open(target)
            theirs, ours = dst.manifest["encoder"], src.manifest["encoder"]
            if (theirs["name"], theirs["dim"]) != (ours["name"], ours["dim"]):
                dst.close()
                raise JointspaceError(f"{target}: holds encoder {theirs['name']!r} (dim {theirs['dim']}), the "
                                      f"source {ours['name']!r} (dim {ours['dim']}); migrate into a new location")
        else:
            dst = open_or_create(target, encoder=src.encoder, fields=src.fields, id_field=src.id_field,
                                 index=_index_for(target, src, index), shards=shards)
        try:
            report = WriteReport()
            for ids, fields, vectors in src.iter_items(batch_size):
                _merge_reports(report, dst.upsert_vectors(ids, fields, vectors, progress=progress))
            if len(dst) < len(src):
                raise JointspaceError(f"{target}: holds {len(dst)} items after copying {len(src)}; migration "
                                      "incomplete")
        finally:
            dst.close()
    finally:
        src.close()
    return report


def _index_for(target: str | Path, src: Any, index: str | None) -> str:
    """The target's index kind: as asked; else HNSW in PostgreSQL (exact when the dim is too large for
    pgvector's HNSW), and the source's kind in a directory."""
    if index:
        return index
    if is_database_url(target):
        from jointspace.stores.postgres import HNSW_MAX_DIM

        return "hnsw" if src.encoder.dim <= HNSW_MAX_DIM else "flat"
    return src.manifest["index"]["kind"]
