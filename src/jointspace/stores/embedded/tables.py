"""The optional tables of an embedded store's items.sqlite, created on first use so older collections open
unchanged:

    vector_fields  (name, dim, encoder, encoder_dir, info)   one row per named vector field
    item_vectors   (field, id, vector)                       one float32 BLOB per item and field
    interactions   (user, item, weight, ts)                  the behaviour data a field was fitted on
    item_hashes    (id, hash)                                content hash of each item's source record

A field's encoder (e.g. the fitted behaviour model) is saved first into a new folder
``vectors/<name>-<token>/``; then ONE transaction replaces the field's vectors (and interactions), points
its row at that folder and bumps the generation. A crash before COMMIT leaves the old row and folder; the
orphan folder is removed on the next write. Every function here runs inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from jointspace.interactions import Interaction

VECTORS_DIR = "vectors"
SCHEMA = {
    "vector_fields": "CREATE TABLE IF NOT EXISTS vector_fields (name TEXT PRIMARY KEY, dim INTEGER NOT NULL, "
                     "encoder TEXT, encoder_dir TEXT, info TEXT NOT NULL DEFAULT '{}')",
    "item_vectors": "CREATE TABLE IF NOT EXISTS item_vectors (field TEXT NOT NULL, id TEXT NOT NULL, "
                    "vector BLOB NOT NULL, PRIMARY KEY (field, id))",
    "interactions": "CREATE TABLE IF NOT EXISTS interactions (user TEXT NOT NULL, item TEXT NOT NULL, "
                    "weight REAL NOT NULL, ts REAL, PRIMARY KEY (user, item))",
    "item_hashes": "CREATE TABLE IF NOT EXISTS item_hashes (id TEXT PRIMARY KEY, hash TEXT NOT NULL)",
}


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def ensure(db: sqlite3.Connection, *names: str) -> None:
    for name in names:
        db.execute(SCHEMA[name])


# -- named vector fields ------------------------------------------------------------------------------
def field_rows(db: sqlite3.Connection) -> dict[str, tuple[int, str | None, str | None, dict[str, Any]]]:
    """name -> (dim, encoder name, encoder folder, info)."""
    if not has_table(db, "vector_fields"):
        return {}
    rows = db.execute("SELECT name, dim, encoder, encoder_dir, info FROM vector_fields ORDER BY name").fetchall()
    return {r[0]: (r[1], r[2], r[3], json.loads(r[4])) for r in rows}


def read_field(db: sqlite3.Connection, name: str) -> dict[str, np.ndarray]:
    rows = db.execute("SELECT id, vector FROM item_vectors WHERE field = ?", (name,)).fetchall()
    return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}


def write_field(db: sqlite3.Connection, name: str, vectors: dict[str, np.ndarray], dim: int, encoder: str | None,
                encoder_dir: str | None, info: dict[str, Any], replace: bool) -> tuple[int, int]:
    """Store a field's vectors; returns (added, updated)."""
    ensure(db, "vector_fields", "item_vectors")
    if replace:
        db.execute("DELETE FROM item_vectors WHERE field = ?", (name,))
    old = {r[0] for r in db.execute("SELECT id FROM item_vectors WHERE field = ?", (name,))}
    db.executemany("INSERT OR REPLACE INTO item_vectors (field, id, vector) VALUES (?, ?, ?)",
                   ((name, i, np.asarray(v, np.float32).tobytes()) for i, v in vectors.items()))
    db.execute("INSERT OR REPLACE INTO vector_fields VALUES (?, ?, ?, ?, ?)",
               (name, dim, encoder, encoder_dir, json.dumps(info)))
    updated = len(old & vectors.keys())
    return len(vectors) - updated, updated


def drop_field(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM item_vectors WHERE field = ?", (name,))
    db.execute("DELETE FROM vector_fields WHERE name = ?", (name,))


def delete_items(db: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Every extra vector and content hash of these items."""
    if ids and has_table(db, "item_vectors"):
        db.executemany("DELETE FROM item_vectors WHERE id = ?", ((str(i),) for i in ids))
    if ids and has_table(db, "item_hashes"):
        db.executemany("DELETE FROM item_hashes WHERE id = ?", ((str(i),) for i in ids))


# -- interactions ---------------------------------------------------------------------------------------
def replace_interactions(db: sqlite3.Connection, interactions: Iterable[Interaction]) -> None:
    ensure(db, "interactions")
    db.execute("DELETE FROM interactions")
    db.executemany("INSERT INTO interactions VALUES (?, ?, ?, ?)",
                   ((i.user, i.item, i.weight, i.timestamp) for i in interactions))


def interactions(db: sqlite3.Connection) -> list[Interaction]:
    if not has_table(db, "interactions"):
        return []
    return [Interaction(*row) for row in db.execute("SELECT user, item, weight, ts FROM interactions ORDER BY rowid")]


def history(db: sqlite3.Connection, user: str) -> list[Interaction]:
    rows = db.execute("SELECT user, item, weight, ts FROM interactions WHERE user = ? ORDER BY ts, rowid",
                      (str(user),)).fetchall() if has_table(db, "interactions") else []
    return [Interaction(*row) for row in rows]


def interaction_count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM interactions").fetchone()[0] if has_table(db, "interactions") else 0


# -- content hashes -------------------------------------------------------------------------------------
def hashes(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    if not ids or not has_table(db, "item_hashes"):
        return {}
    out: dict[str, str] = {}
    ids = list(ids)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        out.update(db.execute(f"SELECT id, hash FROM item_hashes WHERE id IN ({', '.join('?' * len(part))})",
                              part).fetchall())
    return out


def put_hashes(db: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> None:
    ensure(db, "item_hashes")
    db.executemany("INSERT OR REPLACE INTO item_hashes (id, hash) VALUES (?, ?)", pairs)
