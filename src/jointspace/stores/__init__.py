"""Where a collection lives, behind one protocol (``base.Store``), and the ONE place that picks a backend
from a location: a directory (embedded), a directory of shards (sharded) or a ``postgresql://`` URL."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from jointspace.encoders import Encoder
from jointspace.errors import JointspaceError
from jointspace.stores.base import Store

DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: object) -> bool:
    """True for ``postgresql://...`` (and ``postgres://...``) locations."""
    return isinstance(location, str) and location.lower().startswith(DATABASE_SCHEMES)


def exists(location: str | Path) -> bool:
    """Whether a collection is at ``location`` (a directory, a sharded directory or a database URL)."""
    if is_database_url(location):
        from jointspace.stores.postgres import PostgresStore

        return PostgresStore.exists(str(location))
    from jointspace.stores.embedded.store import is_embedded
    from jointspace.stores.sharded import is_sharded

    path = Path(location)
    return is_embedded(path) or is_sharded(path)


def open_store(location: str | Path, durable: bool | None = None) -> Store:
    """The store at ``location``; a clear error when there is none."""
    if is_database_url(location):
        from jointspace.stores.postgres import PostgresStore

        return PostgresStore.open(str(location))
    from jointspace.stores.embedded.store import EmbeddedStore
    from jointspace.stores.sharded import ShardedStore, is_sharded

    path = Path(location)
    if is_sharded(path):
        return ShardedStore.open(path, durable)
    if not path.exists():
        raise JointspaceError(f"{path}: no such collection (the directory does not exist)")
    return EmbeddedStore.open(path, durable)


def create_store(location: str | Path, manifest: dict[str, Any], encoder: Encoder, shards: int | None = None,
                 overwrite: bool = False, durable: bool | None = None) -> Store:
    """A new, empty store at ``location`` described by ``manifest`` (encoder, fields, id_field, index...)."""
    if is_database_url(location):
        if shards and shards > 1:
            raise JointspaceError("shards apply to a collection directory; PostgreSQL scales by itself")
        from jointspace.stores.postgres import PostgresStore

        return PostgresStore.create(str(location), manifest, encoder, overwrite=overwrite)
    from jointspace.stores.embedded.store import EmbeddedStore
    from jointspace.stores.sharded import ShardedStore

    path = Path(location)
    if exists(path):
        if not overwrite:
            raise JointspaceError(f"{path}: a collection exists already (open it, or overwrite=True)")
        shutil.rmtree(path)
    if shards and shards > 1:
        return ShardedStore.create(path, manifest, encoder, shards, durable)
    return EmbeddedStore.create(path, manifest, encoder, durable)


__all__ = ["DATABASE_SCHEMES", "Store", "create_store", "exists", "is_database_url", "open_store"]
