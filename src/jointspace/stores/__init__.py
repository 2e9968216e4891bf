"""Where a collection can live besides its embedded directory: PostgreSQL + pgvector (``postgres.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: object) -> bool:
    """True for ``postgresql://...`` (and ``postgres://...``) locations."""
    return isinstance(location, str) and location.lower().startswith(DATABASE_SCHEMES)


def open_any(location: str | Path) -> Any:
    """A collection by location: a database URL, a sharded directory, or an embedded directory."""
    from jointspace.collection import Collection

    return Collection.open(location)


__all__ = ["DATABASE_SCHEMES", "is_database_url", "open_any"]
