"""The embedded store: a directory holding items, vectors and derived caches, crash-safe.

Layout::

    manifest.json         format version, encoder name/dim/modality, indexed fields, index settings
    items.sqlite          ids, fields (JSON), vectors (float32 BLOBs), the encoder's committed state, the
                          generation counter, and the optional tables of ``tables.py``; WAL mode
    encoder/              the encoder's state as created (format 1; a fitted state lives in SQLite)
    hnsw.<generation>.faiss  HNSW graph cache (index kind "hnsw"), written by atomic rename
    vectors/              encoders of named vector fields (see tables.py)

SQLite is the single commit point. Every other file is a cache that names the generation it was built from
and is used only when that generation is the table's current one, never trusted on a count. A write takes
the write lock first (``BEGIN IMMEDIATE``), then brings the in-memory index up to date under it, so rows
another process committed meanwhile are never lost from this process's index. A search runs inside one read
transaction, so it sees one snapshot even while another process commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders import Encoder, load_encoder
from jointspace.errors import Busy, DeadlineExceeded, FormatError, JointspaceError
from jointspace.filters import where_to_sql
from jointspace.interactions import Interaction
from jointspace.results import Hit, Skipped, WriteReport
from jointspace.stores.base import (
    CONTENT_HASHES,
    INTERACTIONS,
    VECTOR_FIELDS,
    FieldInfo,
    Row,
    check_vectors,
    encoder_from_bytes,
    encoder_to_bytes,
)
from jointspace.stores.embedded import tables
from jointspace.stores.embedded.index import VectorIndex
from jointspace.version import __version__

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB = "items.sqlite"
ENCODER_DIR = "encoder"
#: how long a writer waits for another process's write before giving up (seconds)
BUSY_TIMEOUT = float(os.environ.get("JOINTSPACE_BUSY_TIMEOUT", "60"))


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file, fsync it, and rename it over ``path`` (never a half-written file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def is_embedded(path: Path) -> bool:
    return (path / MANIFEST).exists()


class EmbeddedStore:
    """Items in one SQLite file, searched through an in-memory index derived from it."""

    kind = "embedded"
    capabilities = frozenset({VECTOR_FIELDS, INTERACTIONS, CONTENT_HASHES})

    def __init__(self, path: Path, manifest: dict[str, Any], db: sqlite3.Connection) -> None:
        self.path = path
        self.location = str(path)
        self.manifest = manifest
        self.dim = int(manifest["encoder"]["dim"])
        self._db = db
        self._index: VectorIndex | None = None
        self._rowids = np.zeros(0, dtype=np.int64)  # index position -> sqlite rowid
        self._positions: dict[int, int] = {}  # sqlite rowid -> index position
        self._generation = -1  # the generation the in-memory index reflects

    # -- create / open ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any], encoder: Encoder) -> EmbeddedStore:
        """A new, empty store; ``manifest.json`` is written last: its presence marks a usable collection."""
        VectorIndex(int(manifest["encoder"]["dim"]), **manifest["index"])  # validates the settings first
        path.mkdir(parents=True, exist_ok=True)
        encoder.save(path / ENCODER_DIR)
        with sqlite3.connect(path / DB) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS items (rowid INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "id TEXT UNIQUE NOT NULL, fields TEXT NOT NULL, vector BLOB NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', '0')")
        db.close()
        manifest = {"format": FORMAT_VERSION, "jointspace": __version__, **manifest}
        write_json_atomic(path / MANIFEST, manifest)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> EmbeddedStore:
        """Open without creating or changing any file; a damaged collection is diagnosed, not traced back."""
        if not (path / MANIFEST).exists():
            raise JointspaceError(f"{path}: not a jointspace collection (no {MANIFEST})")
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path / MANIFEST}: damaged manifest ({exc}); restore it from a backup or "
                              "re-index the data") from exc
        version = manifest.get("format") if isinstance(manifest, dict) else None
        if version != FORMAT_VERSION:
            raise FormatError(
                f"{path}: collection format {version!r} is not supported by jointspace {__version__} "
                f"(it reads format {FORMAT_VERSION}); re-index the data with this version"
            )
        missing = [k for k in ("encoder", "fields", "id_field", "index") if k not in manifest]
        if missing:
            raise FormatError(f"{path / MANIFEST}: damaged manifest (no {', '.join(missing)}); restore it from a "
                              "backup or re-index the data")
        if not (path / DB).is_file():
            raise FormatError(f"{path}: {DB} is missing: the items are gone; restore it from a backup or "
                              "re-index the data")
        try:
            db = sqlite3.connect(f"file:{(path / DB).resolve()}?mode=rw", uri=True, isolation_level=None,
                                 check_same_thread=False, timeout=BUSY_TIMEOUT)
            db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            db.execute("SELECT 1 FROM items LIMIT 1").fetchall()
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise FormatError(f"{path / DB}: not a readable jointspace database ({exc}); run `jointspace check "
                              f"{path}`, restore it from a backup, or re-index the data") from exc
        db.execute("PRAGMA synchronous=NORMAL")
        return cls(path, manifest, db)

    def close(self) -> None:
        self._save_hnsw()
        self._db.close()

    # -- the encoder's state ------------------------------------------------------------------------
    def load_encoder(self) -> Encoder:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'encoder_state'").fetchone()
        if row is not None:
            return encoder_from_bytes(bytes(row[0]))
        if not (self.path / ENCODER_DIR).exists():
            raise FormatError(f"{self.path}: the encoder's state is missing ({ENCODER_DIR}/); re-index the data")
        return load_encoder(self.path / ENCODER_DIR)

    def save_encoder(self, encoder: Encoder) -> None:
        blob = encoder_to_bytes(encoder)
        with self._writing() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('encoder_state', ?)", (blob,))

    # -- transactions -------------------------------------------------------------------------------
    def generation(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def _begin_write(self) -> None:
        """``BEGIN IMMEDIATE``, waiting (bounded, with a message) while another process writes."""
        db = self._db
        db.execute("PRAGMA busy_timeout = 200")
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        print(f"jointspace: {self.location} is being written by another process; waiting up to "
              f"{BUSY_TIMEOUT:.0f} s", file=sys.stderr)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise Busy(f"{self.location}: still locked by another writer after {BUSY_TIMEOUT:.0f} s; try again "
                       "later (or raise JOINTSPACE_BUSY_TIMEOUT)") from exc

    @contextmanager
    def _writing(self, deadline: float | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction under the write lock, bumping the generation; rolled back on any error or
        when ``deadline`` (a ``time.monotonic()`` instant) has passed before the commit."""
        self._begin_write()
        try:
            if self._index is not None and self.generation() != self._generation:
                self._index = None  # another process wrote since we loaded: reload under the lock, below
            yield self._db
            self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"{self.location}: the write passed its deadline before it committed; "
                                       "it was rolled back")
            committed = self.generation()
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._index = None  # the in-memory index may be ahead of the rolled-back table
            raise
        if self._index is not None:
            self._generation = committed

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def __contains__(self, item_id: object) -> bool:
        return self._db.execute("SELECT 1 FROM items WHERE id = ?", (str(item_id),)).fetchone() is not None

    def ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM items ORDER BY rowid")]

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        ids = [str(i) for i in ids]
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            rows = self._db.execute(f"SELECT id, fields FROM items WHERE id IN ({', '.join('?' * len(part))})",
                                    part).fetchall()
            out.update((r[0], _fields(r[1])) for r in rows)
        return out

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        out = []
        for item_id in ids:
            row = self._db.execute("SELECT vector FROM items WHERE id = ?", (str(item_id),)).fetchone()
            if row is None:
                raise KeyError(f"no item with id {str(item_id)!r} in {self.location}")
            out.append(np.frombuffer(row[0], dtype=np.float32))
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)

    def iterate(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        last = 0
        while True:
            rows = self._db.execute("SELECT rowid, id, fields, vector FROM items WHERE rowid > ? ORDER BY rowid "
                                    "LIMIT ?", (last, batch_size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield ([r[1] for r in rows], [_fields(r[2]) for r in rows],
                   np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1).copy())

    # -- the index ----------------------------------------------------------------------------------
    def _hnsw_file(self, generation: int) -> Path:
        return self.path / f"hnsw.{generation}.faiss"

    def _load_index(self) -> VectorIndex:
        """The in-memory index as of the current generation (the caller holds a transaction)."""
        generation = self.generation()
        if self._index is not None and generation == self._generation:
            return self._index
        rows = self._db.execute("SELECT rowid, vector FROM items ORDER BY rowid").fetchall()
        index = VectorIndex(self.dim, **self.manifest["index"])
        if rows:
            index.add(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1))
        if index.kind == "hnsw":
            index.load_hnsw(self._hnsw_file(generation))
        self._rowids = np.array([r[0] for r in rows], dtype=np.int64)
        self._positions = {int(rowid): pos for pos, rowid in enumerate(self._rowids)}
        self._index, self._generation = index, generation
        return index

    def _save_hnsw(self) -> None:
        """Keep the HNSW graph for the next process, named by the generation it reflects."""
        index = self._index
        if index is None or index.kind != "hnsw" or index._hnsw is None or not index.alive.all():
            return
        try:
            if self.generation() != self._generation:
                return
            index.save_hnsw(self._hnsw_file(self._generation))
            for old in self.path.glob("hnsw.*faiss"):
                if old.name != self._hnsw_file(self._generation).name:
                    old.unlink(missing_ok=True)
        except (OSError, sqlite3.Error):
            pass  # a cache: the next process rebuilds it

    def _apply(self, inserted: dict[int, np.ndarray], removed: list[int]) -> None:
        """Mirror a write in the in-memory index (inside the write transaction, before COMMIT)."""
        index = self._index
        if index is None:
            return
        gone = [self._positions.pop(r) for r in removed if r in self._positions]
        if gone:
            index.remove(np.array(gone))
        if inserted:
            positions = index.add(np.stack(list(inserted.values())))
            self._rowids = np.concatenate([self._rowids, np.fromiter(inserted, dtype=np.int64)])
            for rowid, pos in zip(inserted, positions, strict=True):
                self._positions[rowid] = int(pos)
        if index.alive.size > 1000 and index.alive.mean() < 0.8:
            self._index = None  # many deletions: rebuild compactly on next search

    def search(self, vectors: np.ndarray, k: int, where: Any = None) -> list[list[Hit]]:
        queries = check_vectors(vectors, self.dim)
        db = self._db
        db.execute("BEGIN")  # one snapshot for the index check, the filter and the fields
        try:
            index = self._load_index()
            if not len(index) or not len(queries):
                return [[] for _ in queries]
            allowed = None
            if where:
                sql, params = where_to_sql(where)
                rowids = [r[0] for r in db.execute(f"SELECT rowid FROM items WHERE {sql}", params)]
                allowed = np.array([self._positions[r] for r in rowids if r in self._positions], dtype=np.int64)
                if not len(allowed):
                    return [[] for _ in queries]
            scores, positions = index.search(queries, k, allowed)
            return [self._hits(s, p) for s, p in zip(scores, positions, strict=True)]
        finally:
            db.execute("COMMIT")

    def _hits(self, scores: np.ndarray, positions: np.ndarray) -> list[Hit]:
        keep = [(float(s), int(self._rowids[p])) for s, p in zip(scores, positions, strict=True) if p >= 0]
        if not keep:
            return []
        rowids = [r for _, r in keep]
        rows = self._db.execute(
            f"SELECT rowid, id, fields FROM items WHERE rowid IN ({', '.join('?' * len(rowids))})", rowids
        ).fetchall()
        by_rowid = {r[0]: (r[1], _fields(r[2])) for r in rows}
        return [Hit(by_rowid[r][0], s, by_rowid[r][1]) for s, r in keep if r in by_rowid]

    # -- writing ------------------------------------------------------------------------------------
    def put(self, rows: Sequence[Row], deadline: float | None = None) -> WriteReport:
        report = WriteReport()
        inserted: dict[int, np.ndarray] = {}  # rowid -> vector, in insertion order
        removed: list[int] = []
        with self._writing(deadline) as db:
            hashes: list[tuple[str, str]] = []
            for row in rows:
                old = db.execute("SELECT rowid FROM items WHERE id = ?", (row.id,)).fetchone()
                if old is not None and not row.replace:
                    report.skipped.append(Skipped(f"id {row.id!r}", "id exists already (use upsert)"))
                    continue
                if old is not None:
                    db.execute("DELETE FROM items WHERE rowid = ?", (old[0],))
                    if inserted.pop(old[0], None) is None:
                        removed.append(old[0])
                    report.updated += 1
                else:
                    report.added += 1
                cur = db.execute("INSERT INTO items (id, fields, vector) VALUES (?, ?, ?)",
                                 (row.id, json.dumps(row.fields, default=str),
                                  np.ascontiguousarray(row.vector, dtype=np.float32).tobytes()))
                inserted[int(cur.lastrowid)] = np.asarray(row.vector, dtype=np.float32)
                if row.content_hash:
                    hashes.append((row.id, row.content_hash))
            if hashes:
                tables.put_hashes(db, hashes)
            self._apply(inserted, removed)
        return report

    def delete(self, ids: Sequence[str], deadline: float | None = None) -> WriteReport:
        report = WriteReport()
        removed: list[int] = []
        with self._writing(deadline) as db:
            gone = []
            for item_id in dict.fromkeys(str(i) for i in ids):
                row = db.execute("SELECT rowid FROM items WHERE id = ?", (item_id,)).fetchone()
                if row is None:
                    report.skipped.append(Skipped(f"id {item_id!r}", "no such item"))
                    continue
                db.execute("DELETE FROM items WHERE rowid = ?", (row[0],))
                removed.append(row[0])
                gone.append(item_id)
                report.deleted += 1
            tables.delete_items(db, gone)
            self._apply({}, removed)
        return report

    # -- content hashes -----------------------------------------------------------------------------
    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        return tables.hashes(self._db, [str(i) for i in ids])

    # -- named vector fields ------------------------------------------------------------------------
    def vector_fields(self) -> dict[str, FieldInfo]:
        return {name: FieldInfo(name, dim, enc, info) for name, (dim, enc, _, info)
                in tables.field_rows(self._db).items()}

    def field_vectors(self, name: str) -> dict[str, np.ndarray]:
        return tables.read_field(self._db, name)

    def field_encoder(self, name: str) -> Encoder | None:
        row = tables.field_rows(self._db).get(name)
        if row is None or not row[2]:
            return None
        folder = self.path / tables.VECTORS_DIR / row[2]
        if not folder.exists():
            raise FormatError(f"{self.location}: the encoder of vector field {name!r} is missing ({folder})")
        return load_encoder(folder)

    def put_field(self, name: str, vectors: dict[str, np.ndarray], dim: int, encoder: Encoder | None,
                  info: dict[str, Any], replace: bool, interactions: list[Interaction] | None = None
                  ) -> WriteReport:
        """Store a field's vectors (and, with ``interactions``, replace the stored interactions) in one commit."""
        import uuid

        report = WriteReport()
        existing = tables.field_rows(self._db).get(name)
        encoder_dir = existing[2] if existing else None
        if encoder is not None:
            encoder_dir = f"{name}-{uuid.uuid4().hex[:12]}"
            encoder.save(self.path / tables.VECTORS_DIR / encoder_dir)  # before the commit that points at it
        encoder_name = encoder.name if encoder is not None else (existing[1] if existing else None)
        with self._writing() as db:
            report.added, report.updated = tables.write_field(db, name, vectors, dim, encoder_name, encoder_dir,
                                                              info, replace)
            if interactions is not None:
                tables.replace_interactions(db, interactions)
        self._remove_orphan_folders()
        return report

    def drop_field(self, name: str) -> None:
        with self._writing() as db:
            tables.drop_field(db, name)
        self._remove_orphan_folders()

    def _remove_orphan_folders(self) -> None:
        root = self.path / tables.VECTORS_DIR
        if not root.exists():
            return
        used = {row[2] for row in tables.field_rows(self._db).values()}
        for folder in root.iterdir():
            if folder.is_dir() and folder.name not in used:
                import shutil

                shutil.rmtree(folder, ignore_errors=True)

    # -- interactions -------------------------------------------------------------------------------
    def interactions(self) -> list[Interaction]:
        return tables.interactions(self._db)

    def history(self, user: str) -> list[Interaction]:
        return tables.history(self._db, user)

    def interaction_count(self) -> int:
        return tables.interaction_count(self._db)

    # -- facts --------------------------------------------------------------------------------------
    def field_values(self, name: str) -> dict[str, int]:
        """How many items hold each value of field ``name`` (for small summaries, e.g. modality counts)."""
        counts: dict[str, int] = {}
        for (value,) in self._db.execute(f"SELECT json_extract(fields, '$.\"{name}\"') FROM items "
                                         "WHERE json_valid(fields)"):
            counts[str(value) if value is not None else ""] = counts.get(str(value) if value is not None else "",
                                                                         0) + 1
        return counts

    def info(self) -> dict[str, Any]:
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {"path": self.location, "backend": self.kind, "count": len(self), "format": self.manifest["format"],
                "generation": self.generation(), "interactions": self.interaction_count(),
                "bytes_on_disk": size}


def _fields(text: str) -> dict[str, Any]:
    """Stored fields; rows written with NaN by older versions still read (Python's json takes NaN)."""
    return json.loads(text)
