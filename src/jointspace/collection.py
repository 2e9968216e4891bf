"""The embedded collection: a directory holding items, vectors and an index, crash-safe.

Layout::

    manifest.json     format version, encoder name/dim/modality, indexed fields, index settings
    encoder/          the encoder's saved state (fitted vocabularies and such)
    items.sqlite      ids, fields (JSON) and vectors (float32 BLOBs); WAL mode
    hnsw.faiss        HNSW graph cache (only with index kind "hnsw"), written by atomic rename

SQLite is the single commit point: an ``add``/``upsert``/``delete`` is one transaction, so a process
killed mid-write leaves the previous state. The in-memory index is derived from the table and rebuilt
when another process has written (a ``generation`` counter), so the index can never disagree with it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace import __version__
from jointspace.encoders import Encoder, l2_normalise, load_encoder
from jointspace.encoders import encoder as make_encoder
from jointspace.errors import FormatError, ItemError, JointspaceError
from jointspace.filters import where_to_sql
from jointspace.index import VectorIndex
from jointspace.interactions import count as interaction_count
from jointspace.named_vectors import delete_items
from jointspace.readers.records import Skipped

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB = "items.sqlite"
HNSW_FILE = "hnsw.faiss"
#: records per encode step of add/upsert: texts are length-sorted within a step, so bigger steps pad less
WRITE_BATCH = 1024

Progress = Callable[[int], None]


@dataclass
class Hit:
    """One search result: the item's id, its similarity to the query, and its stored fields."""

    id: str
    score: float
    fields: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(float(self.score), 6), "fields": self.fields}


@dataclass
class WriteReport:
    """What a write did: counts, and every input item it skipped with the reason."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.added} added"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.deleted:
            parts.append(f"{self.deleted} deleted")
        parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        import os

        os.fsync(fh.fileno())
    tmp.replace(path)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Collection:
    """Items with fields and one vector each, searchable by similarity and filterable by metadata."""

    def __init__(self, path: Path, manifest: dict[str, Any], encoder: Encoder) -> None:
        self.path = path
        self.manifest = manifest
        self.encoder = encoder
        self.fields: list[str] = manifest["fields"]
        self.id_field: str = manifest["id_field"]
        self._db = sqlite3.connect(path / DB, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._index: VectorIndex | None = None
        self._positions: dict[int, int] = {}  # sqlite rowid -> index position
        self._rowids: list[int] = []  # index position -> sqlite rowid
        self._generation = -1

    # -- create / open ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, encoder: str | Encoder = "minilm", fields: Iterable[str] = ("text",),
               id_field: str = "id", index: str | dict[str, Any] | None = None, overwrite: bool = False,
               media: dict[str, str] | None = None, **encoder_params: Any) -> Collection:
        """A new, empty collection at ``path`` embedding ``fields`` with ``encoder``.

        ``index`` is "flat" (exact; the default in a directory) or "hnsw" (the default in PostgreSQL, where
        ``path`` may be a ``postgresql://`` URL; "flat" there means an exact scan).
        ``media`` names the fields that hold file paths and what they are, e.g. ``{"photo": "image"}``
        (``"image"``, ``"audio"``, ``"video"``, or ``"file"`` to detect it by content); with the ``joint``
        encoder a record's text and media fields are embedded together into one vector.
        """
        from jointspace.stores import is_database_url

        if is_database_url(path):
            if media:
                raise JointspaceError("media fields are not supported by the PostgreSQL store yet")
            from jointspace.stores.postgres import PostgresCollection

            return PostgresCollection.create(str(path), encoder=encoder, fields=fields, id_field=id_field,
                                             index=index or "hnsw", overwrite=overwrite, **encoder_params)
        path = Path(path)
        index = index or "flat"
        if (path / MANIFEST).exists():
            if not overwrite:
                raise JointspaceError(f"{path}: a collection exists already (open it, or overwrite=True)")
            shutil.rmtree(path)
        enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
        index_params = {"kind": index} if isinstance(index, str) else dict(index)
        VectorIndex(enc.dim, **index_params)  # validates the settings before anything is written
        fields = [fields] if isinstance(fields, str) else list(fields)
        if not fields:
            raise JointspaceError("a collection needs at least one field to embed")
        path.mkdir(parents=True, exist_ok=True)
        enc.save(path / "encoder")
        with sqlite3.connect(path / DB) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS items (rowid INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "id TEXT UNIQUE NOT NULL, fields TEXT NOT NULL, vector BLOB NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', '0')")
        manifest = {
            "format": FORMAT_VERSION,
            "jointspace": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "encoder": {"name": enc.name, "dim": enc.dim, "modality": enc.modality},
            "fields": fields,
            "id_field": id_field,
            "index": index_params,
        }
        if media:
            manifest["media"] = dict(media)
        _write_json_atomic(path / MANIFEST, manifest)  # written last: its presence marks a usable collection
        return cls(path, manifest, enc)

    @classmethod
    def open(cls, path: str | Path) -> Collection:
        """An existing collection: a directory, a sharded directory, or a ``postgresql://`` URL."""
        from jointspace.stores import is_database_url

        if is_database_url(path):
            from jointspace.stores.postgres import PostgresCollection

            return PostgresCollection.open(str(path))
        path = Path(path)
        if (path / "shards.json").exists():
            from jointspace.sharded import ShardedCollection

            return ShardedCollection.open(path)
        if not (path / MANIFEST).exists():
            raise JointspaceError(f"{path}: not a jointspace collection (no {MANIFEST})")
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path / MANIFEST}: damaged manifest ({exc})") from exc
        version = manifest.get("format")
        if version != FORMAT_VERSION:
            raise FormatError(
                f"{path}: collection format {version!r} is not supported by jointspace {__version__} "
                f"(it reads format {FORMAT_VERSION}); re-index the data with this version"
            )
        return cls(path, manifest, load_encoder(path / "encoder"))

    def close(self) -> None:
        if self._index is not None and self._index.kind == "hnsw" and self._index.alive.all():
            self._index.save_hnsw(self.path / HNSW_FILE)
        self._db.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def __contains__(self, item_id: object) -> bool:
        return self._db.execute("SELECT 1 FROM items WHERE id = ?", (str(item_id),)).fetchone() is not None

    def ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM items ORDER BY rowid")]

    def get(self, item_id: str) -> dict[str, Any]:
        """The stored fields of one item (with its id); KeyError naming the id when there is none."""
        row = self._db.execute("SELECT id, fields FROM items WHERE id = ?", (str(item_id),)).fetchone()
        if row is None:
            raise KeyError(f"no item with id {item_id!r} in {self.path}")
        return {self.id_field: row[0], **json.loads(row[1])}

    def vectors(self, ids: Iterable[str]) -> np.ndarray:
        """The stored vectors of the given ids, in order; KeyError naming the first unknown id."""
        out = []
        for item_id in ids:
            row = self._db.execute("SELECT vector FROM items WHERE id = ?", (str(item_id),)).fetchone()
            if row is None:
                raise KeyError(f"no item with id {item_id!r} in {self.path}")
            out.append(np.frombuffer(row[0], dtype=np.float32))
        return np.stack(out) if out else np.zeros((0, self.encoder.dim), np.float32)

    @property
    def vector_name(self) -> str:
        """The name of the main vector among the named vector fields (the encoder's modality, e.g. "text")."""
        return str(self.manifest.get("vector_name") or self.manifest["encoder"]["modality"])

    def ids_where(self, where: dict[str, Any] | str | None) -> list[str]:
        """The ids of the items matching a ``where`` filter."""
        sql, params = where_to_sql(where)
        return [r[0] for r in self._db.execute(f"SELECT id FROM items WHERE {sql} ORDER BY rowid", params)]

    # -- named vector fields, interactions, recommendation (see named_vectors.py, tasks/recommend.py) --
    def vector_fields(self) -> dict[str, dict[str, Any]]:
        """Every named vector: the main one and the extra fields, name -> {dim, encoder, ...}."""
        from jointspace import named_vectors

        main = {self.vector_name: {"dim": self.encoder.dim, "encoder": self.encoder.name, "main": True,
                                   "source": self.fields}}
        return main | {name: f.to_dict() for name, f in named_vectors.fields(self._db).items()}

    def field_vectors(self, name: str) -> dict[str, np.ndarray]:
        """id -> vector of one named field (the main one included)."""
        from jointspace import named_vectors

        if name == self.vector_name:
            return {r[0]: np.frombuffer(r[1], dtype=np.float32)
                    for r in self._db.execute("SELECT id, vector FROM items ORDER BY rowid")}
        if name not in named_vectors.fields(self._db):
            raise JointspaceError(f"no vector field {name!r} in {self.path}; it has: "
                                  f"{', '.join(self.vector_fields())}")
        return named_vectors.read(self._db, name)

    def field_encoder(self, name: str) -> Encoder | None:
        """The encoder that made a field's vectors (None when they were given as vectors)."""
        from jointspace import named_vectors

        if name == self.vector_name:
            return self.encoder
        info = named_vectors.fields(self._db).get(name)
        if info is None:
            raise JointspaceError(f"no vector field {name!r} in {self.path}")
        return named_vectors.load_field_encoder(self.path, info)

    def add_vectors(self, name: str, vectors: dict[str, Any] | Iterable[tuple[str, Any]],
                    encoder: Encoder | None = None, replace: bool = False) -> WriteReport:
        """Store precomputed vectors (e.g. image vectors) as field ``name``; bad ones are reported."""
        from jointspace.named_vectors import write_field

        pairs = vectors.items() if isinstance(vectors, dict) else vectors
        return write_field(self, name, pairs, encoder=encoder, replace=replace)

    def encode_field(self, name: str, encoder: str | Encoder, source: Sequence[str] | str,
                     progress: Progress | None = None, **encoder_params: Any) -> WriteReport:
        """Field ``name`` = ``encoder`` over the items' stored ``source`` fields (e.g. a theme encoder)."""
        from jointspace.named_vectors import encode_field

        enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
        return encode_field(self, name, enc, source, progress=progress)

    def drop_vectors(self, name: str) -> None:
        from jointspace.named_vectors import drop_field

        drop_field(self, name)

    def add_interactions(self, interactions: Iterable[Any], field: str = "behaviour", merge: bool = True,
                         **params: Any) -> WriteReport:
        """Index user-item interactions: (re)fit the behaviour model and store its item vectors as ``field``.

        ``interactions``: Interaction objects, (user, item[, weight[, timestamp]]) tuples, or dicts with
        those keys; malformed and duplicate rows are skipped and reported.
        """
        from jointspace.interactions import as_records, clean_interactions, index_interactions

        clean, skipped = clean_interactions(as_records(interactions), "user", "item", "weight", "timestamp")
        report = index_interactions(self, clean, field=field, merge=merge, **params)
        report.skipped = skipped + report.skipped
        return report

    def recommend(self, liked: Any = None, k: int = 10, weights: dict[str, float] | None = None,
                  exclude_liked: bool = True, where: dict[str, Any] | str | None = None, diversify: float = 0.0,
                  user: str | None = None, half_life_days: float | None = 180.0) -> Any:
        """Items for someone who liked ``liked`` (ids, or (id, timestamp) pairs), or for a known ``user``.

        See ``jointspace.tasks.recommend.Recommender.recommend``.
        """
        from jointspace.tasks.recommend import Recommender

        generation = self._current_generation()
        cached = getattr(self, "_recommender", None)
        if cached is None or cached.generation != generation:
            cached = self._recommender = Recommender(self)
        return cached.recommend(liked=liked, k=k, weights=weights, exclude_liked=exclude_liked, where=where,
                                diversify=diversify, user=user, half_life_days=half_life_days)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that bumps the generation; the main index stays valid (not rebuilt)."""
        index_current = self._index is not None and self._generation == self._current_generation()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._bump_generation()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if index_current:
            self._generation = self._current_generation()

    def _current_generation(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def _load_index(self) -> VectorIndex:
        """The in-memory index, rebuilt from the table when another writer has changed it."""
        generation = self._current_generation()
        if self._index is not None and generation == self._generation:
            return self._index
        rows = self._db.execute("SELECT rowid, vector FROM items ORDER BY rowid").fetchall()
        index = VectorIndex(self.encoder.dim, **self.manifest["index"])
        if rows:
            index.add(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1))
        if index.kind == "hnsw":
            index.load_hnsw(self.path / HNSW_FILE)
        self._rowids = [r[0] for r in rows]
        self._positions = {rowid: pos for pos, rowid in enumerate(self._rowids)}
        self._index, self._generation = index, generation
        return index

    def embed_query(self, query: str | np.ndarray | Any) -> np.ndarray:
        """A query's vector: text, a vector, or (media collections) a Path or dict of parts to embed."""
        if isinstance(query, np.ndarray):
            vector = np.atleast_2d(query).astype(np.float32)
            if vector.shape[1] != self.encoder.dim:
                raise JointspaceError(f"query vector of dim {vector.shape[1]}; this collection holds "
                                      f"dim {self.encoder.dim}")
            return l2_normalise(vector)
        if isinstance(query, str):
            return self._embed_texts([query])
        return self.encoder.encode([query])

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Text queries: through the encoder's own text path when it has one (a bridge, or a joint space)."""
        if hasattr(self.encoder, "encode_text"):
            return self.encoder.encode_text(texts)
        return self.encoder.encode(texts)

    def embed_queries(self, queries: list[str | np.ndarray | Any]) -> np.ndarray:
        """Query vectors; texts are encoded together in one batch."""
        texts = [i for i, q in enumerate(queries) if isinstance(q, str)]
        out = np.zeros((len(queries), self.encoder.dim), dtype=np.float32)
        if texts:
            out[texts] = self._embed_texts([queries[i] for i in texts])
        for i, q in enumerate(queries):
            if not isinstance(q, str):
                out[i] = self.embed_query(q)[0]
        return out

    def search(self, query: str | np.ndarray, k: int = 10, where: dict[str, Any] | str | None = None
               ) -> list[Hit]:
        """The ``k`` items most similar to ``query`` (text, or a vector), among those matching ``where``."""
        if k < 1:
            raise JointspaceError(f"k must be at least 1, got {k}")
        return self.search_batch([query], k=k, where=where)[0]

    def search_batch(self, queries: list[str | np.ndarray], k: int = 10,
                     where: dict[str, Any] | str | None = None) -> list[list[Hit]]:
        index = self._load_index()
        vectors = self.embed_queries(queries) if queries else None
        if vectors is None or not len(index):
            return [[] for _ in queries]
        allowed = None
        if where:
            sql, params = where_to_sql(where)
            rowids = [r[0] for r in self._db.execute(f"SELECT rowid FROM items WHERE {sql}", params)]
            allowed = np.array([self._positions[r] for r in rowids if r in self._positions], dtype=np.int64)
            if not len(allowed):
                return [[] for _ in queries]
        scores, positions = index.search(vectors, k, allowed)
        return [self._hits(s, p) for s, p in zip(scores, positions, strict=True)]

    def similar(self, item_id: str, k: int = 10, where: dict[str, Any] | str | None = None) -> list[Hit]:
        """The ``k`` items closest to the stored item ``item_id`` ("more like this"), itself left out."""
        if k < 1:
            raise JointspaceError(f"k must be at least 1, got {k}")
        hits = self.search(self.vectors([item_id]), k=k + 1, where=where)
        return [h for h in hits if h.id != str(item_id)][:k]

    def _hits(self, scores: np.ndarray, positions: np.ndarray) -> list[Hit]:
        rowids = [self._rowids[p] for p in positions if p >= 0]
        if not rowids:
            return []
        rows = self._db.execute(
            f"SELECT rowid, id, fields FROM items WHERE rowid IN ({', '.join('?' * len(rowids))})", rowids
        ).fetchall()
        by_rowid = {r[0]: (r[1], json.loads(r[2])) for r in rows}
        return [Hit(by_rowid[r][0], float(s), by_rowid[r][1]) for s, r in zip(scores, rowids, strict=False)
                if r in by_rowid]

    # -- writing ------------------------------------------------------------------------------------
    def text_of(self, record: dict[str, Any]) -> str:
        """The text embedded for a record: its indexed fields joined; ItemError when one is missing."""
        parts = []
        for name in self.fields:
            value = record.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ItemError(self._label(record), f"missing or empty field {name!r}")
            parts.append(str(value))
        return "\n".join(parts)

    def item_of(self, record: dict[str, Any]) -> Any:
        """What the encoder embeds for a record: its text for text encoders (``text_of``); for media
        encoders the file path of its media field; for the joint encoder a dict of its parts."""
        media: dict[str, str] = self.manifest.get("media") or {}
        if self.encoder.modality == "text":
            return self.text_of(record)
        if self.encoder.modality != "joint":
            name = next(iter(media), self.fields[0])
            value = record.get(name)
            if value is None or not str(value).strip():
                raise ItemError(self._label(record), f"missing or empty field {name!r}")
            return Path(str(value))
        parts: dict[str, Any] = {}
        texts = [str(record[f]) for f in self.fields
                 if f not in media and record.get(f) is not None and str(record[f]).strip()]
        if texts:
            parts["text"] = "\n".join(texts)
        for name, kind in media.items():
            value = record.get(name)
            if value is not None and str(value).strip():
                if kind in parts:
                    raise ItemError(self._label(record), f"two {kind} fields; a record embeds one of each")
                parts[kind] = str(value)
        if not parts:
            raise ItemError(self._label(record), f"none of the fields {self.fields} has a value")
        return parts

    def _label(self, record: dict[str, Any]) -> str:
        item_id = record.get(self.id_field)
        return f"id {item_id!r}" if item_id is not None else "record without id"

    def add(self, records: Iterable[dict[str, Any]], batch_size: int = WRITE_BATCH, progress: Progress | None = None,
            vectors: np.ndarray | Iterable[np.ndarray] | None = None) -> WriteReport:
        """Add new records (an id already present is skipped and reported; use ``upsert`` to replace).

        ``vectors``, when given, are the records' own precomputed vectors (one per record, in order):
        they are stored as they are (normalised), and the indexed fields need not be present.
        """
        return self._write(records, replace=False, batch_size=batch_size, progress=progress, vectors=vectors)

    def upsert(self, records: Iterable[dict[str, Any]], batch_size: int = WRITE_BATCH, progress: Progress | None = None,
               vectors: np.ndarray | Iterable[np.ndarray] | None = None) -> WriteReport:
        """Add records, replacing any item with the same id."""
        return self._write(records, replace=True, batch_size=batch_size, progress=progress, vectors=vectors)

    def _fit_if_needed(self, records: list[dict[str, Any]]) -> None:
        if self.encoder.is_fitted:
            return
        texts = []
        for record in records:
            try:
                texts.append(self.item_of(record))
            except ItemError:
                continue
        self.encoder.fit(texts)
        tmp = self.path / "encoder.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.encoder.save(tmp)
        shutil.rmtree(self.path / "encoder")
        tmp.replace(self.path / "encoder")

    def _encode_batch(self, texts: list[Any], labels: list[str], report: WriteReport
                      ) -> tuple[np.ndarray, list[int], list[dict[str, Any]]]:
        """Vectors for the items that encode; an item the encoder rejects is reported, the rest go on.

        Encoders with ``encode_with_details`` (media) also say what each item was (a transcript, image
        labels...): those details are stored with the item's fields."""
        keep = list(range(len(texts)))
        with_details = getattr(self.encoder, "encode_with_details", None)
        while keep:
            try:
                batch = [texts[i] for i in keep]
                if with_details is not None:
                    vectors, details = with_details(batch)
                    return l2_normalise(vectors), keep, details
                return self.encoder.encode(batch), keep, [{} for _ in keep]
            except ItemError as exc:
                if exc.position is None:
                    raise
                bad = keep.pop(exc.position)
                where = labels[bad] if str(exc.item) in labels[bad] else f"{labels[bad]} ({exc.item})"
                report.skipped.append(Skipped(where, exc.reason))
        return np.zeros((0, self.encoder.dim), np.float32), [], []

    def _prepare(self, batch: list[tuple[dict[str, Any], Any]], report: WriteReport
                 ) -> list[tuple[dict[str, Any], np.ndarray, dict[str, Any]]]:
        """The batch's usable records with their vectors; each unusable one is reported and left out."""
        labels, good, texts, given = [], [], [], []
        for record, vector in batch:
            try:
                item_id = record.get(self.id_field) if isinstance(record, dict) else None
                if not isinstance(record, dict):
                    raise ItemError("record", f"expected a dict, got {type(record).__name__}")
                if item_id is None or str(item_id).strip() == "":
                    raise ItemError("record without id", f"missing id field {self.id_field!r}")
                if vector is None:
                    texts.append(self.item_of(record))
                else:
                    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
                    if vector.shape[0] != self.encoder.dim or not np.isfinite(vector).all():
                        raise ItemError(self._label(record), f"vector of dim {vector.shape[0]} (or not finite); "
                                        f"this collection holds dim {self.encoder.dim}")
                    given.append(vector)
            except ItemError as exc:
                report.skipped.append(Skipped(str(exc.item), exc.reason))
                continue
            labels.append(f"id {str(item_id)!r}")
            good.append(record)
        if given:
            return [(r, v, {}) for r, v in zip(good, l2_normalise(np.stack(given)), strict=True)]
        encoded, kept, details = self._encode_batch(texts, labels, report)
        return [(good[i], v, d) for v, i, d in zip(encoded, kept, details, strict=True)]

    def _write(self, records: Iterable[dict[str, Any]], replace: bool, batch_size: int,
               progress: Progress | None, vectors: np.ndarray | Iterable[np.ndarray] | None = None
               ) -> WriteReport:
        report = WriteReport()
        if vectors is None:
            if not self.encoder.is_fitted:
                records = list(records)
                self._fit_if_needed(records)
            pairs: Iterable[tuple[dict[str, Any], Any]] = ((r, None) for r in records)
        else:
            records, vectors = list(records), list(vectors)
            if len(records) != len(vectors):
                raise JointspaceError(f"{len(records)} records but {len(vectors)} vectors")
            pairs = zip(records, vectors, strict=True)
        index = self._load_index()
        inserted: dict[int, np.ndarray] = {}  # rowid -> vector, in insertion order
        removed: list[int] = []
        seen: set[str] = set()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for batch in _batches(pairs, batch_size):
                for record, vector, detail in self._prepare(batch, report):
                    item_id = str(record[self.id_field])
                    fields = {k: v for k, v in record.items() if k != self.id_field}
                    fields.update({k: v for k, v in detail.items() if k not in fields})
                    old = db.execute("SELECT rowid FROM items WHERE id = ?", (item_id,)).fetchone()
                    if item_id in seen:  # the same id twice in one write: the last one wins
                        report.skipped.append(Skipped(f"id {item_id!r}", "duplicate id in the input; "
                                                      "the last occurrence was kept"))
                    elif old is not None and not replace:
                        report.skipped.append(Skipped(f"id {item_id!r}", "id exists already (use upsert)"))
                        continue
                    elif old is not None:
                        report.updated += 1
                    else:
                        report.added += 1
                    if old is not None:
                        db.execute("DELETE FROM items WHERE rowid = ?", (old[0],))
                        if inserted.pop(old[0], None) is None:
                            removed.append(old[0])
                    seen.add(item_id)
                    cur = db.execute("INSERT INTO items (id, fields, vector) VALUES (?, ?, ?)",
                                     (item_id, json.dumps(fields, default=str), vector.tobytes()))
                    inserted[cur.lastrowid] = vector
                if progress:
                    progress(len(batch))
            self._bump_generation()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._index = None  # the in-memory index may be ahead of the rolled-back table
            raise
        self._apply_to_index(index, list(inserted), list(inserted.values()), removed)
        return report

    def _bump_generation(self) -> None:
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def _apply_to_index(self, index: VectorIndex, rowids: list[int], vectors: list[np.ndarray],
                        removed: list[int]) -> None:
        """Mirror a committed write in the in-memory index, without re-reading the table."""
        gone = [self._positions.pop(r) for r in removed if r in self._positions]
        if gone:
            index.remove(np.array(gone))
        if vectors:
            positions = index.add(np.stack(vectors))
            for rowid, pos in zip(rowids, positions, strict=True):
                self._positions[rowid] = int(pos)
                self._rowids.append(rowid)
        self._generation = self._current_generation()
        if self._index is not None and index.alive.size > 1000 and index.alive.mean() < 0.8:
            self._index = None  # many deletions: rebuild compactly on next search

    def upsert_vectors(self, ids: list[str], fields: list[dict[str, Any]], vectors: np.ndarray,
                       progress: Progress | None = None, chunk: int = 5000) -> WriteReport:
        """Store items whose vectors are computed already (migration, distributed jobs), in one transaction.

        Vectors are L2-normalised; a row with an empty id or a non-finite vector is skipped and reported.
        """
        from jointspace.encoders import l2_normalise

        vectors = np.array(vectors, dtype=np.float32)  # a copy: normalised in place below
        if vectors.ndim != 2 or len(vectors) != len(ids) or len(fields) != len(ids) or (
                len(ids) and vectors.shape[1] != self.encoder.dim):
            raise JointspaceError(f"vectors of shape {vectors.shape} for {len(ids)} ids and {len(fields)} "
                                  f"field sets; this collection holds dim {self.encoder.dim}")
        vectors = l2_normalise(vectors)
        report = WriteReport()
        index = self._load_index()
        new_rowids: list[int] = []
        new_vectors: list[np.ndarray] = []
        removed: list[int] = []
        seen: set[str] = set()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(ids), chunk):
                for i in range(start, min(start + chunk, len(ids))):
                    item_id = str(ids[i])
                    if not item_id.strip() or not np.isfinite(vectors[i]).all():
                        report.skipped.append(Skipped(f"id {item_id!r}", "empty id or a vector that is not finite"))
                        continue
                    old = db.execute("SELECT rowid FROM items WHERE id = ?", (item_id,)).fetchone()
                    if old is not None:
                        db.execute("DELETE FROM items WHERE rowid = ?", (old[0],))
                        removed.append(old[0])
                        report.updated += 1
                    elif item_id in seen:
                        report.updated += 1
                    else:
                        report.added += 1
                    seen.add(item_id)
                    cur = db.execute("INSERT INTO items (id, fields, vector) VALUES (?, ?, ?)",
                                     (item_id, json.dumps(fields[i], default=str), vectors[i].tobytes()))
                    new_rowids.append(cur.lastrowid)
                    new_vectors.append(vectors[i])
                if progress:
                    progress(min(chunk, len(ids) - start))
            self._bump_generation()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._index = None
            raise
        if removed:
            self._index = None  # rows replaced within the call: rebuild from the table on next search
            self._generation = -1
        else:
            self._apply_to_index(index, new_rowids, new_vectors, removed)
        return report

    def iter_items(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        """All items as ``(ids, fields, vectors)`` chunks, in insertion order."""
        last = 0
        while True:
            rows = self._db.execute("SELECT rowid, id, fields, vector FROM items WHERE rowid > ? ORDER BY rowid "
                                    "LIMIT ?", (last, batch_size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield ([r[1] for r in rows], [json.loads(r[2]) for r in rows],
                   np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1).copy())

    def delete(self, ids: Iterable[str]) -> WriteReport:
        """Remove items by id; at once invisible to search. Unknown ids are reported in ``skipped``."""
        report = WriteReport()
        index = self._load_index()
        removed = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for item_id in ids:
                row = db.execute("SELECT rowid FROM items WHERE id = ?", (str(item_id),)).fetchone()
                if row is None:
                    report.skipped.append(Skipped(f"id {str(item_id)!r}", "no such item"))
                    continue
                db.execute("DELETE FROM items WHERE rowid = ?", (row[0],))
                delete_items(db, [str(item_id)])
                removed.append(row[0])
                report.deleted += 1
            self._bump_generation()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._index = None
            raise
        self._apply_to_index(index, [], [], removed)
        return report

    # -- facts --------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {
            "path": str(self.path),
            "count": len(self),
            "format": self.manifest["format"],
            "encoder": self.manifest["encoder"],
            "fields": self.fields,
            "index": self.manifest["index"],
            "vector_fields": self.vector_fields(),
            "interactions": interaction_count(self._db),
            "bytes_on_disk": size,
        }
