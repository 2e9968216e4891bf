"""A collection in PostgreSQL with pgvector: the same API as the embedded ``Collection``.

Location: ``postgresql://user:password@host:port/database?table=NAME`` (``table`` defaults to
``jointspace``; every other query parameter goes to libpq, e.g. ``host=/path/to/socket``).

Tables (``NAME`` stands for the table name)::

    NAME        seq BIGSERIAL, id TEXT PRIMARY KEY, fields JSONB, embedding vector(dim)
                + an HNSW index (vector_ip_ops) for index kind "hnsw", none for "flat" (exact scan)
                + a GIN index on fields (jsonb_path_ops) for equality filters
    NAME_meta   key TEXT PRIMARY KEY, value JSONB, blob BYTEA
                format (the table version marker), manifest, and the encoder's saved state (a tar)

Every ``add`` / ``upsert`` / ``delete`` is one transaction: a crash or an error leaves the previous state.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from jointspace import __version__
from jointspace.collection import WRITE_BATCH, Collection, Hit, Progress, WriteReport, _batches
from jointspace.encoders import Encoder, load_encoder
from jointspace.encoders import encoder as make_encoder
from jointspace.errors import FormatError, ItemError, JointspaceError
from jointspace.filters import conditions
from jointspace.readers.records import Skipped

PG_FORMAT_VERSION = 1
DEFAULT_TABLE = "jointspace"
DEFAULT_INDEX = {"kind": "hnsw", "m": 16, "ef_construction": 64, "ef_search": 100}
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
HNSW_MAX_DIM = 2000  # pgvector's limit for an HNSW index on a vector column
BULK_REBUILD_ROWS = 5000  # a bulk load into an empty table builds the HNSW index after the rows, not during


def split_url(url: str) -> tuple[str, str]:
    """``(libpq URL without jointspace's parameters, table name)``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    table = DEFAULT_TABLE
    rest = []
    for key, value in query:
        if key == "table":
            table = value
        else:
            rest.append((key, value))
    if not _TABLE_NAME.match(table):
        raise JointspaceError(f"bad table name {table!r}: use lower-case letters, digits and _ (at most 51)")
    return urlunsplit(parts._replace(query=urlencode(rest))), table


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def connect(url: str, timeout: int = 5) -> Any:
    """A psycopg connection with pgvector's types; a clear error when the server cannot be reached."""
    import psycopg

    conninfo, _ = split_url(url)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise JointspaceError(f"cannot connect to PostgreSQL at {redact(url)}: {reason}") from exc
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        conn.close()
        raise JointspaceError(f"{redact(url)}: the pgvector extension is not available ({exc}); install "
                              "pgvector on the server (https://github.com/pgvector/pgvector)") from exc
    from pgvector.psycopg import register_vector

    register_vector(conn)
    return conn


def encoder_to_bytes(enc: Encoder) -> bytes:
    """An encoder with its fitted state as one gzipped tar (stored in a table, or sent to Ray actors)."""
    with tempfile.TemporaryDirectory() as tmp:
        enc.save(Path(tmp) / "encoder")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(Path(tmp) / "encoder", arcname="encoder")
        return buf.getvalue()


def encoder_from_bytes(blob: bytes) -> Encoder:
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        return load_encoder(Path(tmp) / "encoder")


def where_to_pg(where: dict[str, Any] | str | None, column: str = "fields") -> tuple[str, list[Any]]:
    """SQL condition and parameters for a ``where`` filter over a JSONB column.

    Equality uses containment (``@>``), which the GIN index serves; a JSON null counts as missing,
    as in the embedded store.
    """
    from psycopg.types.json import Jsonb

    clauses: list[str] = []
    params: list[Any] = []
    ops = {"$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
    for field, op, value in conditions(where):
        expr = f"nullif({column} -> %s, 'null'::jsonb)"
        if op == "$eq":
            clauses.append(f"{column} @> %s")
            params.append(Jsonb({field: value}))
        elif op in ("$in", "$nin"):
            if not value:
                clauses.append("FALSE" if op == "$in" else "TRUE")
                continue
            test = f"{expr} = ANY(%s)"
            clauses.append(test if op == "$in" else f"NOT ({test})")
            params.extend([field, [Jsonb(v) for v in value]])
        else:
            clauses.append(f"{expr} {ops[op]} %s")
            params.extend([field, Jsonb(value)])
    return " AND ".join(clauses) or "TRUE", params


class PostgresCollection:
    """Items with fields and one vector each, in a PostgreSQL table with a pgvector column."""

    # the store-independent parts are the embedded collection's own
    text_of = Collection.text_of
    _label = Collection._label
    _encode_batch = Collection._encode_batch
    embed_query = Collection.embed_query
    _embed_texts = Collection._embed_texts
    embed_queries = Collection.embed_queries

    def __init__(self, url: str, conn: Any, table: str, manifest: dict[str, Any], encoder: Encoder) -> None:
        self.url, self.table, self._conn = url, table, conn
        self.path = redact(url)
        self.manifest = manifest
        self.encoder = encoder
        self.fields: list[str] = manifest["fields"]
        self.id_field: str = manifest["id_field"]

    # -- SQL helpers --------------------------------------------------------------------------------
    def _q(self, template: str) -> Any:
        """A statement with ``{t}`` / ``{meta}`` / ``{hnsw}`` / ``{gin}`` replaced by quoted identifiers."""
        from psycopg import sql

        t = self.table
        return sql.SQL(template).format(t=sql.Identifier(t), meta=sql.Identifier(f"{t}_meta"),
                                        hnsw=sql.Identifier(f"{t}_hnsw"), gin=sql.Identifier(f"{t}_fields"))

    @staticmethod
    def _exists(conn: Any, name: str) -> bool:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{name}"',)).fetchone()[0]

    # -- create / open ------------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, encoder: str | Encoder = "minilm", fields: Iterable[str] = ("text",),
               id_field: str = "id", index: str | dict[str, Any] = "hnsw", overwrite: bool = False,
               **encoder_params: Any) -> PostgresCollection:
        """A new, empty collection in table ``?table=`` (default ``jointspace``) of the database at ``url``."""
        _, table = split_url(url)
        enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
        index_params = {"kind": index} if isinstance(index, str) else dict(index)
        if index_params.get("kind") not in ("flat", "hnsw"):
            raise JointspaceError(f"unknown index kind {index_params.get('kind')!r}; use flat or hnsw")
        if index_params["kind"] == "hnsw":
            index_params = {**DEFAULT_INDEX, **index_params}
            if enc.dim > HNSW_MAX_DIM:
                raise JointspaceError(f"pgvector's HNSW index takes at most {HNSW_MAX_DIM} dimensions; encoder "
                                      f"{enc.name!r} gives {enc.dim}: use index='flat' (an exact scan) or a "
                                      "smaller encoder")
        fields = [fields] if isinstance(fields, str) else list(fields)
        if not fields:
            raise JointspaceError("a collection needs at least one field to embed")
        conn = connect(url)
        try:
            if cls._exists(conn, table) or cls._exists(conn, f"{table}_meta"):
                if not overwrite:
                    raise JointspaceError(f"{redact(url)}: table {table!r} exists already "
                                          "(open it, or overwrite=True)")
            manifest = {
                "format": PG_FORMAT_VERSION,
                "jointspace": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "encoder": {"name": enc.name, "dim": enc.dim, "modality": enc.modality},
                "fields": fields,
                "id_field": id_field,
                "index": index_params,
            }
            col = cls(url, conn, table, manifest, enc)
            with conn.transaction():
                if overwrite:
                    conn.execute(col._q("DROP TABLE IF EXISTS {t}, {meta}"))
                conn.execute(col._q("CREATE TABLE {t} (seq BIGSERIAL, id TEXT PRIMARY KEY, "
                                    "fields JSONB NOT NULL, embedding vector(" + str(int(enc.dim)) + ") NOT NULL)"))
                conn.execute(col._q("CREATE INDEX {gin} ON {t} USING gin (fields jsonb_path_ops)"))
                conn.execute(col._q("CREATE TABLE {meta} (key TEXT PRIMARY KEY, value JSONB, blob BYTEA)"))
                col._create_vector_index()
                col._put_meta("manifest", manifest)
                col._put_encoder()
                col._put_meta("format", PG_FORMAT_VERSION)  # the version marker, checked by open
        except BaseException:
            conn.close()
            raise
        return col

    @classmethod
    def exists(cls, url: str) -> bool:
        """Whether the database at ``url`` holds a jointspace collection in the URL's table."""
        _, table = split_url(url)
        conn = connect(url)
        try:
            return cls._exists(conn, f"{table}_meta")
        finally:
            conn.close()

    @classmethod
    def open(cls, url: str) -> PostgresCollection:
        _, table = split_url(url)
        conn = connect(url)
        try:
            if not cls._exists(conn, f"{table}_meta"):
                if cls._exists(conn, table):
                    raise FormatError(f"{redact(url)}: table {table!r} was not created by jointspace "
                                      f"(no {table}_meta table); choose another ?table= name")
                raise JointspaceError(f"{redact(url)}: no jointspace collection in table {table!r}; create one "
                                      "with `jointspace index DATA --store URL` or Collection.create(URL)")
            from psycopg import sql

            meta = sql.Identifier(f"{table}_meta")
            rows = dict(conn.execute(sql.SQL("SELECT key, value FROM {} WHERE key IN ('format', 'manifest')")
                                     .format(meta)).fetchall())
            version = rows.get("format")
            if version != PG_FORMAT_VERSION:
                raise FormatError(
                    f"{redact(url)}: table {table!r} has jointspace table format {version!r}; jointspace "
                    f"{__version__} reads format {PG_FORMAT_VERSION}. Migrate it with the version that wrote it "
                    "(`jointspace migrate URL DIR`), then into this one"
                )
            blob = conn.execute(sql.SQL("SELECT blob FROM {} WHERE key = 'encoder'").format(meta)).fetchone()
            if blob is None or rows.get("manifest") is None:
                raise FormatError(f"{redact(url)}: table {table!r} is damaged (no manifest or encoder)")
            encoder = encoder_from_bytes(bytes(blob[0]))
        except BaseException:
            conn.close()
            raise
        return cls(url, conn, table, rows["manifest"], encoder)

    def _put_meta(self, key: str, value: Any, blob: bytes | None = None) -> None:
        from psycopg.types.json import Jsonb

        self._conn.execute(self._q("INSERT INTO {meta} (key, value, blob) VALUES (%s, %s, %s) "
                                   "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, blob = EXCLUDED.blob"),
                           (key, Jsonb(value), blob))

    def _put_encoder(self) -> None:
        self._put_meta("encoder", {"name": self.encoder.name}, encoder_to_bytes(self.encoder))

    def _create_vector_index(self) -> None:
        params = self.manifest["index"]
        if params["kind"] != "hnsw":
            return
        with_ = f"WITH (m = {int(params['m'])}, ef_construction = {int(params['ef_construction'])})"
        self._conn.execute(self._q("CREATE INDEX IF NOT EXISTS {hnsw} ON {t} USING hnsw (embedding vector_ip_ops) "
                                   + with_))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostgresCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._conn.execute(self._q("SELECT COUNT(*) FROM {t}")).fetchone()[0]

    def __contains__(self, item_id: object) -> bool:
        return self._conn.execute(self._q("SELECT 1 FROM {t} WHERE id = %s"), (str(item_id),)).fetchone() is not None

    def ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute(self._q("SELECT id FROM {t} ORDER BY seq"))]

    def get(self, item_id: str) -> dict[str, Any]:
        row = self._conn.execute(self._q("SELECT id, fields FROM {t} WHERE id = %s"), (str(item_id),)).fetchone()
        if row is None:
            raise KeyError(f"no item with id {item_id!r} in {self.path} (table {self.table})")
        return {self.id_field: row[0], **row[1]}

    def vectors(self, ids: Iterable[str]) -> np.ndarray:
        ids = [str(i) for i in ids]
        rows = dict(self._conn.execute(self._q("SELECT id, embedding FROM {t} WHERE id = ANY(%s)"), (ids,)))
        for item_id in ids:
            if item_id not in rows:
                raise KeyError(f"no item with id {item_id!r} in {self.path} (table {self.table})")
        if not ids:
            return np.zeros((0, self.encoder.dim), np.float32)
        return np.stack([_array(rows[i]) for i in ids])

    def iter_items(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        """All items as ``(ids, fields, vectors)`` chunks, in insertion order (a server-side cursor)."""
        with self._conn.transaction(), self._conn.cursor(name=f"jointspace_iter_{id(self)}") as cur:
            cur.itersize = batch_size
            cur.execute(self._q("SELECT id, fields, embedding FROM {t} ORDER BY seq"))
            while rows := cur.fetchmany(batch_size):
                yield [r[0] for r in rows], [r[1] for r in rows], np.stack([_array(r[2]) for r in rows])

    def search(self, query: str | np.ndarray, k: int = 10, where: dict[str, Any] | str | None = None
               ) -> list[Hit]:
        if k < 1:
            raise JointspaceError(f"k must be at least 1, got {k}")
        return self.search_batch([query], k=k, where=where)[0]

    def search_batch(self, queries: list[str | np.ndarray], k: int = 10,
                     where: dict[str, Any] | str | None = None) -> list[list[Hit]]:
        """Top-k per query by inner product; with an HNSW index, pgvector's iterative scan keeps
        filtered queries returning k hits where k rows match."""
        if not queries:
            return []
        vectors = self.embed_queries(queries)
        cond, params = where_to_pg(where)
        statement = self._q("SELECT id, fields, -(embedding <#> %s) AS score FROM {t} WHERE " + cond
                            + " ORDER BY embedding <#> %s LIMIT %s")
        index = self.manifest["index"]
        out = []
        for vector in vectors:
            with self._conn.transaction():
                if index["kind"] == "hnsw":
                    self._conn.execute("SELECT set_config('hnsw.ef_search', %s, true)",
                                       (str(max(int(index["ef_search"]), k)),))
                    if where:
                        self._conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                rows = self._conn.execute(statement, [vector, *params, vector, k]).fetchall()
            out.append([Hit(r[0], float(r[2]), r[1]) for r in rows])
        return out

    # -- writing ------------------------------------------------------------------------------------
    def add(self, records: Iterable[dict[str, Any]], batch_size: int = WRITE_BATCH,
            progress: Progress | None = None) -> WriteReport:
        """Add new records (an id already present is skipped and reported; use ``upsert`` to replace)."""
        return self._write(records, replace=False, batch_size=batch_size, progress=progress)

    def upsert(self, records: Iterable[dict[str, Any]], batch_size: int = WRITE_BATCH,
               progress: Progress | None = None) -> WriteReport:
        """Add records, replacing any item with the same id."""
        return self._write(records, replace=True, batch_size=batch_size, progress=progress)

    def _write(self, records: Iterable[dict[str, Any]], replace: bool, batch_size: int,
               progress: Progress | None) -> WriteReport:
        report = WriteReport()
        conn = self._conn
        fit_now = not self.encoder.is_fitted
        if fit_now:
            records = list(records)
            texts = []
            for record in records:
                try:
                    texts.append(self.text_of(record))
                except ItemError:
                    continue
            self.encoder.fit(texts)
        seen: set[str] = set()
        with conn.transaction():
            if fit_now:
                self._put_encoder()
            for batch in _batches(records, batch_size):
                texts, labels, good = [], [], []
                for record in batch:
                    try:
                        item_id = record.get(self.id_field)
                        if item_id is None or str(item_id).strip() == "":
                            raise ItemError("record without id", f"missing id field {self.id_field!r}")
                        texts.append(self.text_of(record))
                    except ItemError as exc:
                        report.skipped.append(Skipped(str(exc.item), exc.reason))
                        continue
                    labels.append(f"id {str(item_id)!r}")
                    good.append(record)
                vectors, kept, details = self._encode_batch(texts, labels, report)
                rows = [(str(good[i][self.id_field]),
                         {k: v for k, v in {**detail, **good[i]}.items() if k != self.id_field}, v)
                        for v, i, detail in zip(vectors, kept, details, strict=True)]
                self._store_rows(rows, replace, seen, report)
                if progress:
                    progress(len(batch))
        return report

    def _store_rows(self, rows: list[tuple[str, dict[str, Any], np.ndarray]], replace: bool, seen: set[str],
                    report: WriteReport) -> None:
        """Insert or replace rows inside the caller's transaction, counting as the embedded store does."""
        from psycopg.types.json import Jsonb

        if not rows:
            return
        existing = {r[0] for r in self._conn.execute(self._q("SELECT id FROM {t} WHERE id = ANY(%s)"),
                                                     ([r[0] for r in rows],))}
        final: dict[str, tuple[str, Any, np.ndarray]] = {}
        for item_id, fields, vector in rows:
            if item_id in existing or item_id in seen:
                if not replace and item_id not in seen:
                    report.skipped.append(Skipped(f"id {item_id!r}", "id exists already (use upsert)"))
                    continue
                report.updated += 1
            else:
                report.added += 1
            seen.add(item_id)
            final[item_id] = (item_id, Jsonb(json.loads(json.dumps(fields, default=str))), vector)
        if final:
            with self._conn.cursor() as cur:
                cur.executemany(self._q("INSERT INTO {t} (id, fields, embedding) VALUES (%s, %s, %s) "
                                        "ON CONFLICT (id) DO UPDATE SET fields = EXCLUDED.fields, "
                                        "embedding = EXCLUDED.embedding"), list(final.values()))

    def upsert_vectors(self, ids: list[str], fields: list[dict[str, Any]], vectors: np.ndarray,
                       progress: Progress | None = None, chunk: int = 5000) -> WriteReport:
        """Store items whose vectors are computed already (migration, distributed jobs), in one transaction.

        Rows go through COPY into a temporary table, then one upsert; a bulk load into an empty table
        builds the HNSW index after the rows, which is several times faster than row by row.
        """
        from psycopg.types.json import Jsonb

        vectors = _checked_vectors(vectors, len(ids), self.encoder.dim)
        report = WriteReport()
        conn = self._conn
        with conn.transaction():
            rebuild = (self.manifest["index"]["kind"] == "hnsw" and len(ids) >= BULK_REBUILD_ROWS
                       and conn.execute(self._q("SELECT NOT EXISTS (SELECT 1 FROM {t})")).fetchone()[0])
            if rebuild:
                conn.execute(self._q("DROP INDEX IF EXISTS {hnsw}"))
            conn.execute(f"CREATE TEMP TABLE jointspace_load (ord BIGSERIAL, id TEXT, fields JSONB, "
                         f"embedding vector({int(self.encoder.dim)})) ON COMMIT DROP")
            good = [i for i in range(len(ids)) if np.isfinite(vectors[i]).all() and str(ids[i]).strip()]
            for i in sorted(set(range(len(ids))) - set(good)):
                report.skipped.append(Skipped(f"id {ids[i]!r}", "empty id or a vector that is not finite"))
            for start in range(0, len(good), chunk):
                part = good[start:start + chunk]
                with conn.cursor().copy("COPY jointspace_load (id, fields, embedding) FROM STDIN") as copy:
                    for i in part:
                        copy.write_row((str(ids[i]), Jsonb(json.loads(json.dumps(fields[i], default=str))),
                                        vectors[i]))
                if progress:
                    progress(len(part))
            counts = conn.execute(self._q(
                "WITH src AS (SELECT DISTINCT ON (id) id, fields, embedding FROM jointspace_load "
                "ORDER BY id, ord DESC), "
                "ins AS (INSERT INTO {t} (id, fields, embedding) SELECT id, fields, embedding FROM src "
                "ON CONFLICT (id) DO UPDATE SET fields = EXCLUDED.fields, embedding = EXCLUDED.embedding "
                "RETURNING (xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM ins"
            )).fetchone()
            report.added, report.updated = int(counts[0]), int(counts[1])
            if rebuild:
                conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
                self._create_vector_index()
        return report

    def delete(self, ids: Iterable[str]) -> WriteReport:
        """Remove items by id, in one transaction. Unknown ids are reported in ``skipped``."""
        report = WriteReport()
        wanted = list(dict.fromkeys(str(i) for i in ids))
        with self._conn.transaction():
            gone = {r[0] for r in self._conn.execute(self._q("DELETE FROM {t} WHERE id = ANY(%s) RETURNING id"),
                                                     (wanted,))}
        report.deleted = len(gone)
        report.skipped = [Skipped(f"id {i!r}", "no such item") for i in wanted if i not in gone]
        return report

    # -- facts --------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        size = self._conn.execute("SELECT pg_total_relation_size(to_regclass(%s))", (f'"{self.table}"',)
                                  ).fetchone()[0]
        return {
            "path": self.path,
            "table": self.table,
            "count": len(self),
            "format": self.manifest["format"],
            "encoder": self.manifest["encoder"],
            "fields": self.fields,
            "index": self.manifest["index"],
            "bytes_on_disk": int(size or 0),
        }


def _array(value: Any) -> np.ndarray:
    """A pgvector value (numpy array or pgvector's ``Vector``) as float32."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


def _checked_vectors(vectors: np.ndarray, n: int, dim: int) -> np.ndarray:
    """Vectors as float32 rows of length ``dim``, L2-normalised; a clear error when the shape is wrong."""
    from jointspace.encoders import l2_normalise

    vectors = np.array(vectors, dtype=np.float32)  # a copy: normalised in place below
    if vectors.ndim != 2 or vectors.shape[0] != n or (n and vectors.shape[1] != dim):
        raise JointspaceError(f"vectors of shape {vectors.shape} for {n} ids; this collection holds dim {dim}")
    return l2_normalise(vectors)
