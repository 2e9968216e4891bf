"""User-item interactions (ratings, clicks): reading them cleanly and keeping them in the collection.

Rows with no user or item, or a weight/timestamp that is not a number, are skipped and reported; a
repeated (user, item) pair keeps its latest row (by timestamp, else the last one read) and the others
are reported as duplicates. In a collection they live in the ``interactions`` table of items.sqlite,
written in the same transaction as the behaviour vectors fitted on them.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jointspace.readers.records import Skipped

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


# -- storage in items.sqlite ---------------------------------------------------------------------------
def ensure_table(db: sqlite3.Connection) -> None:
    db.execute(SCHEMA)


def replace_all(db: sqlite3.Connection, interactions: Iterable[Interaction]) -> None:
    """Inside the caller's transaction: the stored interactions become exactly these."""
    ensure_table(db)
    db.execute("DELETE FROM interactions")
    db.executemany("INSERT INTO interactions VALUES (?, ?, ?, ?)",
                   ((i.user, i.item, i.weight, i.timestamp) for i in interactions))


def stored(db: sqlite3.Connection) -> list[Interaction]:
    if not _has_table(db):
        return []
    return [Interaction(*row) for row in db.execute("SELECT user, item, weight, ts FROM interactions")]


def history(db: sqlite3.Connection, user: str) -> list[Interaction]:
    """One user's interactions, oldest first (KeyError naming an unknown user)."""
    rows = db.execute("SELECT user, item, weight, ts FROM interactions WHERE user = ? ORDER BY ts, rowid",
                      (str(user),)).fetchall() if _has_table(db) else []
    if not rows:
        raise KeyError(f"user {user!r} has no interactions in this collection")
    return [Interaction(*row) for row in rows]


def count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM interactions").fetchone()[0] if _has_table(db) else 0


def _has_table(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='interactions'").fetchone() is not None


def index_interactions(col: Any, interactions: Iterable[Interaction], field: str = "behaviour",
                       merge: bool = True, **params: Any) -> Any:
    """Fit a behaviour model on the collection's interactions (stored ones plus these, when ``merge``)
    and store its item vectors as vector field ``field``; interactions, vectors and model commit together.

    Interactions with items the collection does not hold still train the model (they say something
    about their users) but give no vector; they are reported. Returns the field's WriteReport.
    """
    from jointspace.encoders.behaviour import BehaviourEncoder
    from jointspace.errors import JointspaceError
    from jointspace.named_vectors import write_field

    merged: dict[tuple[str, str], Interaction] = {}
    if merge:
        merged = {(i.user, i.item): i for i in stored(col._db)}
    for inter in interactions:
        merged[(inter.user, inter.item)] = inter
    if not merged:
        raise JointspaceError("no interactions to index")
    model = BehaviourEncoder(**params).fit(merged.values())
    in_collection = set(col.ids())
    outside = sorted({i for _, i in merged} - in_collection)
    known = [i for i in model.item_ids_ or [] if i in in_collection]
    vectors = model.encode(known) if known else []
    report = write_field(col, field, zip(known, vectors, strict=True), encoder=model, replace=True,
                         info={"interactions": len(merged), "users": len(model.user_ids_ or [])},
                         also=lambda db: replace_all(db, merged.values()))
    if outside:
        shown = ", ".join(repr(i) for i in outside[:10]) + (" ..." if len(outside) > 10 else "")
        report.skipped.append(Skipped(f"{len(outside)} item ids", f"interactions with items not in the collection "
                                                                  f"(used for fitting, no vector): {shown}"))
    return report
