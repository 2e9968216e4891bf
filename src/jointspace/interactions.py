"""User-item interactions (ratings, clicks): reading them cleanly and keeping them in the collection.

Rows with no user or item, or a weight/timestamp that is not a number, are skipped and reported; a
repeated (user, item) pair keeps its latest row (by timestamp, else the last one read) and the others
are reported as duplicates. A collection keeps them in its store (the embedded store's ``interactions``
table), committed with the behaviour vectors fitted on them (``Collection.add_interactions``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jointspace.results import Skipped

SCHEMA = ("CREATE TABLE IF NOT EXISTS interactions (user TEXT NOT NULL, item TEXT NOT NULL, "
          "weight REAL NOT NULL, ts REAL, PRIMARY KEY (user, item))")


@dataclass(frozen=True)
class Interaction:
    user: str
    item: str
    weight: float = 1.0
    timestamp: float | None = None


def _number(value: Any) -> float | None:
    """A finite float, None for a missing value; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def clean_interactions(records: Iterable[dict[str, Any]], user_field: str = "user", item_field: str = "item",
                       weight_field: str | None = None, time_field: str | None = None
                       ) -> tuple[list[Interaction], list[Skipped]]:
    """Interactions from records, deduplicated; the skipped rows say why (row numbers from 1)."""
    kept: dict[tuple[str, str], tuple[int, Interaction]] = {}
    skipped: list[Skipped] = []
    for row_no, record in enumerate(records, start=1):
        user, item = record.get(user_field), record.get(item_field)
        if user is None or str(user).strip() == "" or item is None or str(item).strip() == "":
            missing = user_field if user is None or str(user).strip() == "" else item_field
            skipped.append(Skipped(f"row {row_no}", f"missing {missing!r}"))
            continue
        try:
            weight = _number(record.get(weight_field)) if weight_field else None
            ts = _number(record.get(time_field)) if time_field else None
        except (TypeError, ValueError):
            bad = weight_field if weight_field and _bad(record.get(weight_field)) else time_field
            skipped.append(Skipped(f"row {row_no}", f"{bad!r} is not a number: {record.get(bad)!r}"))
            continue
        if weight_field and weight is None and record.get(weight_field, 0) is None:
            skipped.append(Skipped(f"row {row_no}", f"missing {weight_field!r}"))
            continue
        key = (_id(user), _id(item))
        new = Interaction(key[0], key[1], 1.0 if weight is None else weight, ts)
        if key in kept:
            old_row, old = kept[key]
            newer = new.timestamp is None or old.timestamp is None or new.timestamp >= old.timestamp
            loser = old_row if newer else row_no
            skipped.append(Skipped(f"row {loser}", f"duplicate of user {key[0]!r} item {key[1]!r}; "
                                                   "kept the latest"))
            if not newer:
                continue
        kept[key] = (row_no, new)
    return [inter for _, inter in kept.values()], skipped


def as_records(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Interaction objects, (user, item[, weight[, timestamp]]) tuples or dicts, as dicts."""
    keys = ("user", "item", "weight", "timestamp")
    out = []
    for row in rows:
        if isinstance(row, Interaction):
            row = (row.user, row.item, row.weight, row.timestamp)
        out.append(dict(row) if isinstance(row, dict) else dict(zip(keys, row, strict=False)))
    return out


def _bad(value: Any) -> bool:
    try:
        _number(value)
        return False
    except (TypeError, ValueError):
        return True


def _id(value: Any) -> str:
    """Ids as text; a float that is a whole number (pandas reads ints with NaNs as floats) loses '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
