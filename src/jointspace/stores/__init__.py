"""Where a collection can live besides its embedded directory: PostgreSQL + pgvector (``postgres.py``),
and how to open or create one by its location alone."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: object) -> bool:
    """True for ``postgresql://...`` (and ``postgres://...``) locations."""
    return isinstance(location, str) and location.lower().startswith(DATABASE_SCHEMES)


def exists(location: str | Path) -> bool:
    """Whether a collection is at ``location`` (a directory, a sharded directory or a database URL)."""
    if is_database_url(location):
        from jointspace.stores.postgres import PostgresCollection

        return PostgresCollection.exists(str(location))
    path = Path(location)
    return (path / "manifest.json").exists() or (path / "shards.json").exists()


def open_or_create(location: str | Path, encoder: Any = "minilm", fields: Iterable[str] = ("text",),
                   id_field: str = "id", index: str | dict[str, Any] | None = None, shards: int | None = None,
                   **encoder_params: Any) -> Any:
    """The collection at ``location``, created with these settings when there is none."""
    from jointspace.collection import Collection

    if exists(location):
        return Collection.open(location)
    if shards and shards > 1:
        if is_database_url(location):
            from jointspace.errors import JointspaceError

            raise JointspaceError("--shards applies to a collection directory; PostgreSQL scales by itself")
        from jointspace.sharded import ShardedCollection

        return ShardedCollection.create(location, shards=shards, encoder=encoder, fields=fields,
                                        id_field=id_field, index=index or "flat", **encoder_params)
    return Collection.create(location, encoder=encoder, fields=fields, id_field=id_field, index=index,
                             **encoder_params)


__all__ = ["DATABASE_SCHEMES", "exists", "is_database_url", "open_or_create"]
