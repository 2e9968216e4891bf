"""Copy a collection from one store to another (directory <-> PostgreSQL, or into a sharded directory).

Everything travels: items with their vectors (copied, never re-encoded, so the copy searches exactly as the
original), the encoder with its fitted state, the media settings, and, where the target store supports
them, the named vector fields (with their encoders) and the interactions. A source holding fields or
interactions that the target's backend cannot keep is refused before anything is copied, naming what
would be lost. Into an existing collection, items are upserted by id (same encoder required).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.collection import Collection
from jointspace.errors import JointspaceError
from jointspace.results import Progress, WriteReport
from jointspace.stores import exists, is_database_url
from jointspace.stores.base import INTERACTIONS, VECTOR_FIELDS


def migrate(source: str | Path, target: str | Path, index: str | None = None, shards: int | None = None,
            batch_size: int = 100_000, progress: Progress | None = None) -> WriteReport:
    """Copy every item, vector field and interaction of ``source`` into ``target``; returns the items' report."""
    if str(source) == str(target):
        raise JointspaceError("source and target are the same collection")
    src = Collection.open(source)
    try:
        extra = {n: f for n, f in src.vector_fields().items() if not f.get("main")}
        n_interactions = len(src.interactions()) if INTERACTIONS in src.store.capabilities else 0
        if exists(target):
            dst = Collection.open(target)
            theirs, ours = dst.manifest["encoder"], src.manifest["encoder"]
            if (theirs["name"], theirs["dim"]) != (ours["name"], ours["dim"]):
                dst.close()
                raise JointspaceError(f"{target}: holds encoder {theirs['name']!r} (dim {theirs['dim']}), the "
                                      f"source {ours['name']!r} (dim {ours['dim']}); migrate into a new location")
        else:
            _check_target_keeps(target, shards, extra, n_interactions)
            dst = Collection.create(target, encoder=src.encoder, fields=src.fields, id_field=src.id_field,
                                    index=_index_for(target, src, index), shards=shards,
                                    media=src.manifest.get("media"))
        try:
            _check_keeps(dst, extra, n_interactions)
            report = WriteReport()
            for ids, fields, vectors in src.iter_items(batch_size):
                report.merge(dst.upsert_vectors(ids, fields, vectors, progress=progress))
            if len(dst) < len(src):
                raise JointspaceError(f"{target}: holds {len(dst)} items after copying {len(src)}; migration "
                                      "incomplete")
            interactions = src.interactions() if n_interactions else None
            for name, facts in extra.items():
                info = {k: v for k, v in facts.items() if k not in ("dim", "encoder")}
                is_behaviour = interactions is not None and "interactions" in info
                dst.add_vectors(name, src.field_vectors(name), encoder=src.field_encoder(name), replace=True,
                                info=info, interactions=interactions if is_behaviour else None)
                if is_behaviour:
                    interactions = None  # stored with this field's commit
        finally:
            dst.close()
    finally:
        src.close()
    return report


def _check_target_keeps(target: str | Path, shards: int | None, extra: dict[str, Any], n_interactions: int) -> None:
    """Refuse, before creating anything, a target backend that would drop fields or interactions."""
    if not extra and not n_interactions:
        return
    backend = "postgres" if is_database_url(target) else ("sharded" if shards and shards > 1 else "embedded")
    if backend != "embedded":
        lost = ([f"vector fields {', '.join(sorted(extra))}"] if extra else []) + (
            [f"{n_interactions} interactions"] if n_interactions else [])
        raise JointspaceError(f"{target}: the {backend} store does not keep {' and '.join(lost)}; migrate into an "
                              "embedded collection directory to keep everything")


def _check_keeps(dst: Collection, extra: dict[str, Any], n_interactions: int) -> None:
    missing = [cap for cap, needed in ((VECTOR_FIELDS, extra), (INTERACTIONS, n_interactions))
               if needed and cap not in dst.store.capabilities]
    if missing:
        raise JointspaceError(f"{dst.location}: the {dst.backend} store does not support {', '.join(missing)}, "
                              "which the source holds; migrate into an embedded collection directory")


def _index_for(target: str | Path, src: Any, index: str | None) -> str:
    """The target's index kind: as asked; else HNSW in PostgreSQL (exact when the dim is too large for
    pgvector's HNSW), and the source's kind in a directory."""
    if index:
        return index
    if is_database_url(target):
        from jointspace.stores.postgres import HNSW_MAX_DIM

        return "hnsw" if src.encoder.dim <= HNSW_MAX_DIM else "flat"
    return src.manifest["index"]["kind"]
