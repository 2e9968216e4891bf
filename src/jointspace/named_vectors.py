"""Named vector fields: several vectors per item (text, theme, image, behaviour, ...) beside the main one.

The collection's main vector (its encoder over its text fields) stays in the ``items`` table, named
after the encoder's modality (``"text"``). Extra fields live in two more tables of the same
items.sqlite, created on first use so older collections open unchanged:

    vector_fields  (name, dim, encoder, encoder_dir, info)   one row per field
    item_vectors   (field, id, vector)                       one float32 BLOB per item and field

A field's encoder (e.g. the fitted behaviour model, needed to fold in new users) is saved first into
a new folder ``vectors/<name>-<token>/``; then ONE transaction replaces the field's vectors, points
its row at that folder and bumps the collection's generation. SQLite stays the single commit point:
a crash before COMMIT leaves the old row, vectors and folder (the orphan folder is removed on the
next write). Vectors are keyed by item id, so an upsert of an item's text keeps its other vectors;
deleting an item deletes them in the delete's transaction.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jointspace.encoders import Encoder, load_encoder
from jointspace.errors import ItemError, JointspaceError
from jointspace.readers.records import Skipped

if TYPE_CHECKING:
    from jointspace.collection import Collection, WriteReport

VECTORS_DIR = "vectors"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS vector_fields (name TEXT PRIMARY KEY, dim INTEGER NOT NULL, encoder TEXT, "
    "encoder_dir TEXT, info TEXT NOT NULL DEFAULT '{}')",
    "CREATE TABLE IF NOT EXISTS item_vectors (field TEXT NOT NULL, id TEXT NOT NULL, vector BLOB NOT NULL, "
    "PRIMARY KEY (field, id))",
)


@dataclass(frozen=True)
class FieldInfo:
    name: str
    dim: int
    encoder: str | None
    encoder_dir: str | None
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "encoder": self.encoder, **self.info}


def ensure_tables(db: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        db.execute(statement)


def _has_tables(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='vector_fields'").fetchone() is not None


def fields(db: sqlite3.Connection) -> dict[str, FieldInfo]:
    """The extra vector fields, by name (empty for a collection that has none)."""
    if not _has_tables(db):
        return {}
    rows = db.execute("SELECT name, dim, encoder, encoder_dir, info FROM vector_fields ORDER BY name").fetchall()
    return {r[0]: FieldInfo(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows}


def read(db: sqlite3.Connection, name: str) -> dict[str, np.ndarray]:
    """id -> vector of one extra field."""
    rows = db.execute("SELECT id, vector FROM item_vectors WHERE field = ?", (name,)).fetchall()
    return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}


def load_field_encoder(path: Path, info: FieldInfo) -> Encoder | None:
    if not info.encoder_dir:
        return None
    folder = path / VECTORS_DIR / info.encoder_dir
    if not folder.exists():
        raise JointspaceError(f"{path}: the encoder of vector field {info.name!r} is missing ({folder})")
    return load_encoder(folder)


def delete_items(db: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Inside the caller's transaction: drop every extra vector of these items."""
    if ids and _has_tables(db):
        db.executemany("DELETE FROM item_vectors WHERE id = ?", ((str(i),) for i in ids))


def _check_vector(vector: Any, dim: int | None) -> np.ndarray:
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and arr.shape[0] != dim:
        raise ValueError(f"vector of dim {arr.shape[0]}, the field holds dim {dim}")
    if not np.isfinite(arr).all():
        raise ValueError("vector has NaN or infinite values")
    norm = float(np.linalg.norm(arr))
    if norm == 0:
        raise ValueError("all-zero vector")
    return arr / norm


def write_field(col: Collection, name: str, vectors: Iterable[tuple[str, Any]], encoder: Encoder | None = None,
                replace: bool = True, info: dict[str, Any] | None = None,
                also: Callable[[sqlite3.Connection], None] | None = None) -> WriteReport:
    """Store vectors (L2-normalised here) of field ``name``, in one transaction.

    ``replace`` drops the field's previous vectors; otherwise the given ones are upserted. Unknown
    ids, wrong dimensions and NaN/zero vectors are skipped and reported. ``also`` runs inside the same
    transaction (the behaviour field stores its interactions there).
    """
    from jointspace.collection import WriteReport

    if not _NAME.match(name):
        raise JointspaceError(f"bad vector field name {name!r}: letters, digits, '_' or '-'")
    if name == col.vector_name:
        raise JointspaceError(f"{name!r} is the collection's main vector; choose another name for an extra field")
    existing = fields(col._db).get(name)
    dim = encoder.dim if encoder is not None else (existing.dim if existing and not replace else None)
    report = WriteReport()
    rows: dict[str, bytes] = {}
    known = set(col.ids())
    for item_id, vector in vectors:
        item_id = str(item_id)
        if item_id not in known:
            report.skipped.append(Skipped(f"id {item_id!r}", "no such item in the collection"))
            continue
        try:
            arr = _check_vector(vector, dim)
        except ValueError as exc:
            report.skipped.append(Skipped(f"id {item_id!r}", str(exc)))
            continue
        dim = arr.shape[0]
        rows[item_id] = arr.tobytes()
    if dim is None:
        raise JointspaceError(f"vector field {name!r}: no usable vector to store")
    encoder_dir = None
    if encoder is not None:
        encoder_dir = f"{name}-{uuid.uuid4().hex[:12]}"
        encoder.save(col.path / VECTORS_DIR / encoder_dir)  # before the commit: the row may point at it
    with col._transaction() as db:
        ensure_tables(db)
        if replace:
            db.execute("DELETE FROM item_vectors WHERE field = ?", (name,))
        old = {r[0] for r in db.execute("SELECT id FROM item_vectors WHERE field = ?", (name,))}
        db.executemany("INSERT OR REPLACE INTO item_vectors (field, id, vector) VALUES (?, ?, ?)",
                       ((name, i, v) for i, v in rows.items()))
        report.updated = len(old & rows.keys())
        report.added = len(rows) - report.updated
        if encoder_dir is None and existing is not None:
            encoder_dir = existing.encoder_dir
        meta = {"modality": encoder.modality if encoder else (existing.info.get("modality") if existing else None)}
        meta.update(info or {})
        db.execute("INSERT OR REPLACE INTO vector_fields VALUES (?, ?, ?, ?, ?)",
                   (name, dim, encoder.name if encoder else (existing.encoder if existing else None),
                    encoder_dir, json.dumps(meta)))
        if also is not None:
            also(db)
    _remove_orphan_folders(col)
    return report


def drop_field(col: Collection, name: str) -> None:
    if name not in fields(col._db):
        raise JointspaceError(f"no vector field {name!r} in {col.path}")
    with col._transaction() as db:
        db.execute("DELETE FROM item_vectors WHERE field = ?", (name,))
        db.execute("DELETE FROM vector_fields WHERE name = ?", (name,))
    _remove_orphan_folders(col)


def _remove_orphan_folders(col: Collection) -> None:
    """Encoder folders no committed row points at (older versions, or a write that crashed)."""
    root = col.path / VECTORS_DIR
    if not root.exists():
        return
    used = {f.encoder_dir for f in fields(col._db).values()}
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in used:
            shutil.rmtree(folder, ignore_errors=True)


def encode_field(col: Collection, name: str, encoder: Encoder, source: Sequence[str], batch_size: int = 256,
                 progress: Callable[[int], None] | None = None) -> WriteReport:
    """Vectors of field ``name`` from the items' stored ``source`` fields (joined), with ``encoder``
    (fitted first on those texts when it learns from data). How a theme or a second text encoder plugs in.
    """
    source = [source] if isinstance(source, str) else list(source)
    skipped: list[Skipped] = []
    ids, texts = [], []
    for item_id in col.ids():
        record = col.get(item_id)
        parts = [str(record[s]) for s in source if record.get(s) not in (None, "")]
        if len(parts) < len(source):
            missing = [s for s in source if record.get(s) in (None, "")]
            skipped.append(Skipped(f"id {item_id!r}", f"missing or empty field {missing[0]!r}"))
            continue
        ids.append(item_id)
        texts.append("\n".join(parts))
    if not ids:
        raise JointspaceError(f"no item has the field(s) {source} to encode")
    if not encoder.is_fitted:
        encoder.fit(texts)
    pairs: list[tuple[str, np.ndarray]] = []
    for start in range(0, len(ids), batch_size):
        keep = list(range(start, min(start + batch_size, len(ids))))
        while keep:
            try:
                vecs = encoder.encode([texts[i] for i in keep])
                break
            except ItemError as exc:
                if exc.position is None:
                    raise
                bad = keep.pop(exc.position)
                skipped.append(Skipped(f"id {ids[bad]!r}", exc.reason))
        else:
            vecs = np.zeros((0, encoder.dim), np.float32)
        pairs.extend((ids[i], v) for i, v in zip(keep, vecs, strict=True))
        if progress:
            progress(min(batch_size, len(ids) - start))
    report = write_field(col, name, pairs, encoder=encoder, replace=True, info={"source": source})
    report.skipped = skipped + report.skipped
    return report
