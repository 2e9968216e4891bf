"""The checks every media reader makes on a file before opening it."""

from __future__ import annotations

from pathlib import Path

from jointspace.errors import ItemError


def checked_file(path: str | Path, label: str | None = None, max_bytes: int | None = None) -> Path:
    """``path`` when it is an existing, non-empty file within ``max_bytes``; ItemError naming it otherwise."""
    path = Path(path)
    label = str(path) if label is None else label
    if not path.is_file():
        raise ItemError(label, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise ItemError(label, "empty file (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise ItemError(label, f"file of {size / 2**20:.0f} MiB is over the {max_bytes / 2**20:.0f} MiB limit")
    return path
