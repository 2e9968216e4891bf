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
from jointspace.interactions import Interaction
from jointspace.results import Hit, Skipped, WriteReport
from jointspace.stores import filters as flt
from jointspace.stores.base import (
    CONTENT_HASHES,
    INTERACTIONS,
    LEXICAL,
    VECTOR_FIELDS,
    FieldInfo,
    Row,
    check_vectors,
    encoder_from_bytes,
    encoder_to_bytes,
    lexical_text,
)
from jointspace.stores.embedded import tables, vector_cache
from jointspace.stores.embedded.columns import ColumnCache, top_k_masked
from jointspace.stores.embedded.index import VectorIndex
from jointspace.stores.embedded.lexical import LexicalIndex
from jointspace.stores.embedded.quantize import make_codes
from jointspace.version import __version__

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB = "items.sqlite"
ENCODER_DIR = "encoder"
VECTOR_CACHE = "vectors.cache"  # the vector matrix, memory-mapped on open (instant open)
COLUMNS_CACHE = "columns.cache"  # the fields as typed columns (fast filters)
CATALOG_CACHE = "catalog.json"  # field name -> kinds and counts (filters that name no field are errors)
CODES_CACHE = "codes.cache"  # quantised codes (quantize="int8" | "binary")
LEXICAL_INDEX = LexicalIndex()
#: how long a writer waits for another process's write before giving up (seconds)
BUSY_TIMEOUT = float(os.environ.get("JOINTSPACE_BUSY_TIMEOUT", "60"))
#: survive power loss, not only a killed process: SQLite's synchronous=FULL and an fsync of the directory
#: after each rename (``durable=True`` on open, or JOINTSPACE_DURABLE=1); see docs/benchmarks.md for its cost
DURABLE = os.environ.get("JOINTSPACE_DURABLE", "") not in ("", "0")


def write_json_atomic(path: Path, data: dict[str, Any], durable: bool | None = None) -> None:
    """Write JSON to a temporary file, fsync it, and rename it over ``path`` (never a half-written file);
    ``durable`` also fsyncs the directory, so the rename itself survives a power loss."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    if DURABLE if durable is None else durable:
        vector_cache.fsync_dir(path.parent)


def is_embedded(path: Path) -> bool:
    return (path / MANIFEST).exists()


class EmbeddedStore:
    """Items in one SQLite file, searched through an in-memory index derived from it."""

    kind = "embedded"
    capabilities = frozenset({VECTOR_FIELDS, INTERACTIONS, CONTENT_HASHES, LEXICAL})

    def __init__(self, path: Path, manifest: dict[str, Any], db: sqlite3.Connection, durable: bool = False) -> None:
        self.path = path
        self.durable = durable
        self.location = str(path)
        self.manifest = manifest
        self.dim = int(manifest["encoder"]["dim"])
        self._db = db
        self._index: VectorIndex | None = None
        # index position -> sqlite rowid; ascending (rowids only grow), so a rowid's position is a binary search
        self._rowids = np.zeros(0, dtype=np.int64)
        self._generation = -1  # the generation the in-memory index reflects
        self._columns: ColumnCache | None = None  # the fields as columns, by index position
        self._catalog: flt.FieldCatalog | None = None
        self._columns_generation = -1
        self._codes: Any = None  # quantised codes, by index position
        self._cache_generations: dict[str, int] = {}  # cache file -> the generation it holds

    # -- create / open ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any], encoder: Encoder, durable: bool | None = None
               ) -> EmbeddedStore:
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
            LEXICAL_INDEX.ensure(db)  # kept in the same commits as the rows from the start
        db.close()
        manifest = {"format": FORMAT_VERSION, "jointspace": __version__, **manifest}
        write_json_atomic(path / MANIFEST, manifest, durable)
        return cls.open(path, durable)

    @classmethod
    def open(cls, path: Path, durable: bool | None = None) -> EmbeddedStore:
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
        durable = DURABLE if durable is None else durable
        db.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
        return cls(path, manifest, db, durable)

    def close(self) -> None:
        self._save_caches()
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
                self._index = None  # another process wrote since we loaded: reloaded on the next search
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
            if self._columns is not None and self._columns_generation == self._generation:
                self._columns_generation = committed
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

    # -- the index and its caches ------------------------------------------------------------------
    def _hnsw_file(self, generation: int) -> Path:
        return self.path / f"hnsw.{generation}.faiss"

    def _load_index(self) -> VectorIndex:
        """The in-memory index as of the current generation (the caller holds a transaction).

        The vector matrix comes from the memory-mapped cache when it was written at this generation (a new
        process's first search costs a page-in, not a read of every BLOB); else from the table, and the
        cache is written for the next process."""
        generation = self.generation()
        if self._index is not None and generation == self._generation:
            return self._index
        cached = vector_cache.open(self.path / VECTOR_CACHE, generation, dim=self.dim)
        if cached is not None:
            rowids, matrix = cached
            self._cache_generations[VECTOR_CACHE] = generation
        else:
            rows = self._db.execute("SELECT rowid, vector FROM items ORDER BY rowid").fetchall()
            rowids = np.array([r[0] for r in rows], dtype=np.int64)
            matrix = (np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
                      if rows else np.zeros((0, self.dim), np.float32))
            del rows
            self._write_cache(VECTOR_CACHE, generation, lambda path: vector_cache.write(path, generation, rowids,
                                                                                         matrix))
        index = VectorIndex.from_matrix(matrix, **self.manifest["index"])
        if index.kind == "hnsw":
            index.load_hnsw(self._hnsw_file(generation))
        self._rowids = rowids
        self._index, self._generation = index, generation
        if self._columns_generation != generation:
            self._columns, self._catalog = None, None
        self._codes = None
        return index

    def _positions_of(self, rowids: np.ndarray) -> np.ndarray:
        """The index positions of sqlite rowids (-1 for a rowid the index does not hold)."""
        rowids = np.asarray(rowids, dtype=np.int64)
        if not len(self._rowids):
            return np.full(len(rowids), -1, dtype=np.int64)
        pos = np.searchsorted(self._rowids, rowids)
        found = (pos < len(self._rowids)) & (self._rowids[np.minimum(pos, len(self._rowids) - 1)] == rowids)
        return np.where(found, pos, -1).astype(np.int64)

    def _write_cache(self, name: str, generation: int, write: Any) -> None:
        """Write a derived cache file; a read-only directory or a full disk only costs the next open time."""
        try:
            write(self.path / name)
            self._cache_generations[name] = generation
        except (OSError, JointspaceError):
            pass

    def _columns_ready(self) -> tuple[ColumnCache, flt.FieldCatalog]:
        """The fields as typed columns and their catalog, for the index's positions (built on first use)."""
        index = self._load_index()
        generation = self._generation
        if self._columns is not None and self._catalog is not None and self._columns_generation == generation:
            return self._columns, self._catalog
        whole = bool(index.alive.all()) and len(index.vectors) == len(self._rowids)
        columns = ColumnCache.load(self.path / COLUMNS_CACHE, generation) if whole else None
        catalog = None
        if columns is not None:
            try:
                saved = json.loads((self.path / CATALOG_CACHE).read_text())
                if saved.get("generation") == generation:
                    catalog = flt.FieldCatalog.from_json(saved["catalog"])
            except (OSError, ValueError, KeyError, AttributeError):
                catalog = None
        if columns is None or catalog is None:
            catalog = flt.FieldCatalog()
            chunks = []
            last = 0
            while True:
                rows = self._db.execute("SELECT rowid, fields FROM items WHERE rowid > ? ORDER BY rowid LIMIT 20000",
                                        (last,)).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                fields = [_fields(r[1]) for r in rows]
                for f in fields:
                    catalog.add(f)
                chunks.append((self._positions_of(np.array([r[0] for r in rows], dtype=np.int64)), fields))
            columns = ColumnCache.build(chunks)
            if whole:
                cols, cat = columns, catalog
                self._write_cache(COLUMNS_CACHE, generation, lambda path: cols.save(path, generation))
                self._write_cache(CATALOG_CACHE, generation, lambda path: write_json_atomic(
                    path, {"generation": generation, "catalog": cat.to_json()}))
        self._columns, self._catalog, self._columns_generation = columns, catalog, generation
        return columns, catalog

    def _codes_ready(self, index: VectorIndex) -> Any:
        """The quantised codes of the index's vectors (learned from them), kept like every other cache."""
        if self._codes is not None:
            return self._codes
        kind = index.quantize
        codes = make_codes(kind).load(self.path / CODES_CACHE, self._generation) if index.alive.all() else None
        if codes is None or len(codes) != len(index.vectors):
            codes = make_codes(kind)
            if len(index.vectors):
                codes.fit(np.asarray(index.vectors[index.alive]))
                codes.add(np.asarray(index.vectors))
                dead = np.flatnonzero(~index.alive)
                if len(dead):
                    codes.remove(dead)
        self._codes = codes
        return codes

    def _save_caches(self) -> None:
        """Before closing: keep what this process derived, named by the generation it reflects."""
        index = self._index
        if index is None:
            return
        try:
            generation = self.generation()
        except sqlite3.Error:
            return
        if generation != self._generation or not index.alive.all():
            return
        if self._cache_generations.get(VECTOR_CACHE) != generation:
            self._write_cache(VECTOR_CACHE, generation, lambda path: vector_cache.write(
                path, generation, self._rowids, index.vectors))
        if self._columns is not None and self._catalog is not None and self._columns_generation == generation \
                and self._cache_generations.get(COLUMNS_CACHE) != generation:
            cols, cat = self._columns, self._catalog
            self._write_cache(COLUMNS_CACHE, generation, lambda path: cols.save(path, generation))
            self._write_cache(CATALOG_CACHE, generation, lambda path: write_json_atomic(
                path, {"generation": generation, "catalog": cat.to_json()}))
        if self._codes is not None and index.quantize and self._cache_generations.get(CODES_CACHE) != generation:
            codes = self._codes
            self._write_cache(CODES_CACHE, generation, lambda path: codes.save(path, generation))
        if index.kind == "hnsw" and index._hnsw is not None:
            try:
                index.save_hnsw(self._hnsw_file(generation))
                for old in self.path.glob("hnsw.*faiss"):
                    if old.name != self._hnsw_file(generation).name:
                        old.unlink(missing_ok=True)
            except OSError:
                pass  # a cache: the next process rebuilds it

    def _apply(self, inserted: dict[int, tuple[np.ndarray, dict[str, Any]]],
               removed: list[tuple[int, dict[str, Any]]]) -> None:
        """Mirror a write in the in-memory index and columns (inside the write transaction, before COMMIT)."""
        index = self._index
        if index is None:
            return
        columns = self._columns if self._columns_generation == self._generation else None
        gone = self._positions_of(np.array([r for r, _ in removed], dtype=np.int64)) if removed else []
        gone = [int(p) for p in gone if p >= 0 and index.alive[p]]
        if gone:
            index.remove(np.array(gone))
            if columns is not None and self._catalog is not None:
                columns.remove(np.array(gone))
                for _, fields in removed:
                    self._catalog.remove(fields)
            if self._codes is not None:
                self._codes.remove(np.array(gone))
        if inserted:
            vectors = np.stack([v for v, _ in inserted.values()])
            positions = index.add(vectors)
            self._rowids = np.concatenate([self._rowids, np.fromiter(inserted, dtype=np.int64)])
            if columns is not None and self._catalog is not None:
                new_fields = [f for _, f in inserted.values()]
                columns.add(positions, new_fields)
                for fields in new_fields:
                    self._catalog.add(fields)
            if self._codes is not None:
                self._codes.add(vectors)
        if index.alive.size > 1000 and index.alive.mean() < 0.8:
            self._index = None  # many deletions: rebuild compactly on next search

    # -- search -------------------------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: the index check, the filter and the fields all see one snapshot."""
        db = self._db
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def catalog(self) -> flt.FieldCatalog:
        """Every field an item holds (dotted names for nested objects), with its kinds and counts."""
        with self._reading():
            return self._columns_ready()[1]

    def _mask(self, node: flt.Node) -> np.ndarray:
        index = self._load_index()
        columns, _ = self._columns_ready()
        return columns.mask(node, len(index.vectors)) & index.alive

    def ids_where(self, where: Any) -> list[str]:
        node = flt.parse(where)
        with self._reading() as db:
            index = self._load_index()
            positions = np.flatnonzero(self._mask(node)) if node is not None else np.flatnonzero(index.alive)
            rowids = sorted(int(self._rowids[p]) for p in positions)
            out: list[str] = []
            for start in range(0, len(rowids), 500):
                part = rowids[start:start + 500]
                out += [r[0] for r in db.execute(f"SELECT id FROM items WHERE rowid IN ({', '.join('?' * len(part))}) "
                                                 "ORDER BY rowid", part)]
            return out

    def search(self, vectors: np.ndarray, k: int, where: Any = None) -> list[list[Hit]]:
        queries = check_vectors(vectors, self.dim)
        node = flt.parse(where)
        with self._reading():
            index = self._load_index()
            if not len(index) or not len(queries):
                return [[] for _ in queries]
            allowed = None
            if node is not None:
                mask = self._mask(node)
                if not mask.any():
                    return [[] for _ in queries]
                if index.kind == "flat" and not index.quantize:
                    found = top_k_masked(index.vectors, queries, mask, k)
                    return [self._hits(scores, positions) for positions, scores in found]
                allowed = np.flatnonzero(mask)
            if index.quantize:
                if allowed is None and not index.alive.all():
                    allowed = np.flatnonzero(index.alive)
                codes = self._codes_ready(index)
                scores, positions = codes.search(queries, k, float_vectors=index.vectors, rescore=index.rescore,
                                                 allowed=allowed)
            else:
                scores, positions = index.search(queries, k, allowed)
            return [self._hits(s, p) for s, p in zip(scores, positions, strict=True)]

    def lexical_search(self, query: str, k: int, where: Any = None, with_terms: bool = True) -> list[Hit]:
        """The k best items by BM25 (SQLite FTS5) among those passing ``where``; each hit's ``explain`` names
        the query terms it matched. A collection written before the lexical index existed gets it built
        here, once, in one write transaction."""
        node = flt.parse(where)
        self.ensure_lexical()
        with self._reading() as db:
            allowed = None
            if node is not None:
                self._load_index()
                mask = self._mask(node)
                if not mask.any():
                    return []
                allowed = self._rowids[np.flatnonzero(mask)]
            found = LEXICAL_INDEX.search(db, query, k, allowed_rowids=allowed, with_terms=with_terms)
            if not found:
                return []
            rowids = [h.rowid for h in found]
            rows = db.execute(f"SELECT rowid, id, fields FROM items WHERE rowid IN ({', '.join('?' * len(rowids))})",
                              rowids).fetchall()
            by_rowid = {r[0]: (r[1], _fields(r[2])) for r in rows}
            return [Hit(by_rowid[h.rowid][0], h.score, by_rowid[h.rowid][1], {"terms": h.terms})
                    for h in found if h.rowid in by_rowid]

    def ensure_lexical(self, progress: Any = None) -> bool:
        """Build the lexical index from the table when it is missing (older collections); True if built."""
        if LEXICAL_INDEX.exists(self._db):
            return False
        with self._writing() as db:
            if LEXICAL_INDEX.ensure(db):
                rows = ((r[0], lexical_text(_fields(r[1]), self.manifest))
                        for r in db.execute("SELECT rowid, fields FROM items ORDER BY rowid").fetchall())
                LEXICAL_INDEX.rebuild(db, rows, progress=progress)
        return True

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
        inserted: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}  # rowid -> (vector, fields), in order
        removed: list[tuple[int, dict[str, Any]]] = []
        with self._writing(deadline) as db:
            lexical = LEXICAL_INDEX.exists(db)
            hashes: list[tuple[str, str]] = []
            texts: list[tuple[int, str]] = []
            gone_rowids: list[int] = []
            for row in rows:
                old = db.execute("SELECT rowid, fields FROM items WHERE id = ?", (row.id,)).fetchone()
                if old is not None and not row.replace:
                    report.skipped.append(Skipped(f"id {row.id!r}", "id exists already (use upsert)"))
                    continue
                if old is not None:
                    db.execute("DELETE FROM items WHERE rowid = ?", (old[0],))
                    gone_rowids.append(old[0])
                    if inserted.pop(old[0], None) is None:
                        removed.append((old[0], _fields(old[1])))
                    report.updated += 1
                else:
                    report.added += 1
                cur = db.execute("INSERT INTO items (id, fields, vector) VALUES (?, ?, ?)",
                                 (row.id, json.dumps(row.fields, default=str, allow_nan=False),
                                  np.ascontiguousarray(row.vector, dtype=np.float32).tobytes()))
                rowid = int(cur.lastrowid)
                inserted[rowid] = (np.asarray(row.vector, dtype=np.float32), row.fields)
                if lexical:
                    texts.append((rowid, lexical_text(row.fields, self.manifest)))
                if row.content_hash:
                    hashes.append((row.id, row.content_hash))
            if lexical:
                if gone_rowids:
                    LEXICAL_INDEX.delete(db, gone_rowids)
                LEXICAL_INDEX.put(db, [t for t in texts if t[0] in inserted])
            if hashes:
                tables.put_hashes(db, hashes)
            self._apply(inserted, removed)
        return report

    def delete(self, ids: Sequence[str], deadline: float | None = None) -> WriteReport:
        report = WriteReport()
        removed: list[tuple[int, dict[str, Any]]] = []
        with self._writing(deadline) as db:
            gone = []
            for item_id in dict.fromkeys(str(i) for i in ids):
                row = db.execute("SELECT rowid, fields FROM items WHERE id = ?", (item_id,)).fetchone()
                if row is None:
                    report.skipped.append(Skipped(f"id {item_id!r}", "no such item"))
                    continue
                db.execute("DELETE FROM items WHERE rowid = ?", (row[0],))
                removed.append((row[0], _fields(row[1])))
                gone.append(item_id)
                report.deleted += 1
            tables.delete_items(db, gone)
            if removed and LEXICAL_INDEX.exists(db):
                LEXICAL_INDEX.delete(db, [r for r, _ in removed])
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
    """Stored fields; a NaN or Infinity that an older version wrote reads as null (never invalid JSON out)."""
    return json.loads(text, parse_constant=lambda _: None)


def check(path: Path) -> list[tuple[str, str, str]]:
    """``jointspace check``: SQLite's integrity check plus jointspace's own invariants, without changing a file.

    Returns ``(what, status, detail)`` rows; status is "ok", "stale" (a cache from another generation: it is
    rebuilt on use, nothing is wrong), "missing" (a cache not written yet) or "error" (something is wrong and
    the detail says what to do)."""
    out: list[tuple[str, str, str]] = []
    try:
        store = EmbeddedStore.open(path)
    except JointspaceError as exc:
        return [("open", "error", str(exc))]
    try:
        db = store._db
        problems = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
        out.append(("sqlite integrity", "ok" if problems == ["ok"] else "error",
                    "ok" if problems == ["ok"] else "; ".join(problems[:5]) + " (restore from a backup)"))
        generation = store.generation()
        bad = db.execute("SELECT COUNT(*) FROM items WHERE length(vector) != ?", (4 * store.dim,)).fetchone()[0]
        out.append(("vectors", "ok" if not bad else "error",
                    f"{len(store)} items, each a vector of dim {store.dim}" if not bad else
                    f"{bad} items hold a vector of another size than dim {store.dim}; re-index them"))
        empty = db.execute("SELECT COUNT(*) FROM items WHERE vector = zeroblob(?)", (4 * store.dim,)).fetchone()[0]
        if empty:
            out.append(("zero vectors", "error", f"{empty} items hold an all-zero vector (no query can find them); "
                                                 "re-index them"))
        try:
            store.load_encoder()
            out.append(("encoder", "ok", f"{store.manifest['encoder']['name']} state loads"))
        except (JointspaceError, OSError) as exc:
            out.append(("encoder", "error", str(exc)))
        header = vector_cache.read_header(path / VECTOR_CACHE)
        out.append(_cache_row("vector cache", header.get("generation") if header else None, generation,
                              (path / VECTOR_CACHE).exists()))
        columns = ColumnCache.load(path / COLUMNS_CACHE, generation)
        out.append(_cache_row("column cache", generation if columns is not None else -1, generation,
                              (path / COLUMNS_CACHE).exists()))
        hnsw = sorted(path.glob("hnsw.*.faiss"))
        if store.manifest["index"].get("kind") == "hnsw":
            current = [p for p in hnsw if p.name == f"hnsw.{generation}.faiss"]
            out.append(("hnsw graph", "ok" if current else ("stale" if hnsw else "missing"),
                        "current" if current else "rebuilt on the next search"))
        if LEXICAL_INDEX.exists(db):
            items = np.fromiter((r[0] for r in db.execute("SELECT rowid FROM items ORDER BY rowid")), dtype=np.int64)
            lexical = LEXICAL_INDEX.rowids(db)
            same = np.array_equal(items, lexical)
            out.append(("lexical index", "ok" if same else "error",
                        f"{len(lexical)} rows, the same as the items" if same else
                        f"{len(lexical)} lexical rows for {len(items)} items; run `jointspace reindex {path}`"))
        else:
            out.append(("lexical index", "missing", "built on the first lexical or hybrid search, or by "
                                                    "`jointspace reindex`"))
    finally:
        store._db.close()  # never writes a cache: check changes nothing
    return out


def _cache_row(what: str, held: int | None, generation: int, exists: bool) -> tuple[str, str, str]:
    if not exists:
        return (what, "missing", "written on the next search")
    if held == generation:
        return (what, "ok", f"generation {generation}")
    return (what, "stale", f"from another generation than the table's {generation}: rebuilt on use, never trusted")
