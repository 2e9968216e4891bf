"""The shapes every layer returns: a search ``Hit``, a ``WriteReport`` with what it ``Skipped``, ``Progress``.

Kept in one small module below everything else, so that readers, stores, the Collection and the surfaces
all speak the same types without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: called with the number of items just done (a progress bar's ``advance``)
Progress = Callable[[int], None]


@dataclass
class Skipped:
    """An input item left out, and why (``where`` is an id or a line number)."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "reason": self.reason}


@dataclass
class Hit:
    """One search result: the item's id, its similarity to the query, and its stored fields.

    ``explain`` says why it ranked where it did when the search was asked to (hybrid search)."""

    id: str
    score: float
    fields: dict[str, Any]
    explain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "score": round(float(self.score), 6), "fields": self.fields}
        if self.explain is not None:
            out["explain"] = self.explain
        return out


class Hits(list[Hit]):
    """Search results, best first: a list of ``Hit``, and ``to_pandas()`` for a DataFrame (id, score, fields)."""

    def to_pandas(self) -> Any:
        from jointspace.frames import hits_frame

        return hits_frame(self)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [h.to_dict() for h in self]


@dataclass
class WriteReport:
    """What a write did: counts, every input item it skipped with the reason, and notes on kept items
    (a value that was changed to be stored, e.g. a NaN stored as null)."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)

    def merge(self, other: WriteReport) -> WriteReport:
        """Add another report's counts and items to this one (shards, batches); returns self."""
        self.added += other.added
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.skipped.extend(other.skipped)
        self.notes.extend(other.notes)
        return self

    def summary(self) -> str:
        parts = [f"{self.added} added"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.unchanged:
            parts.append(f"{self.unchanged} unchanged (already stored)")
        if self.deleted:
            parts.append(f"{self.deleted} deleted")
        parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "deleted": self.deleted,
                "unchanged": self.unchanged, "skipped": [s.to_dict() for s in self.skipped],
                "notes": [s.to_dict() for s in self.notes]}


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last one shorter), streaming."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
