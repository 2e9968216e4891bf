"""The PostgreSQL store (pgvector): the Store protocol over one table, for collections that outgrow a machine.

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

import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from jointspace.encoders import Encoder
from jointspace.errors import DeadlineExceeded, FormatError, JointspaceError
from jointspace.results import Hit, Skipped, WriteReport
from jointspace.stores import filters as flt
from jointspace.stores.base import LEXICAL, Row, check_vectors, encoder_from_bytes, encoder_to_bytes, lexical_text
from jointspace.version import __version__

PG_FORMAT_VERSION = 1
DEFAULT_TABLE = "jointspace"
DEFAULT_INDEX = {"kind": "hnsw", "m": 16, "ef_construction": 64, "ef_search": 100}
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
HNSW_MAX_DIM = 2000  # pgvector's limit for an HNSW index on a vector column
BULK_REBUILD_ROWS = 5000
BULK_ROWS = 1000  # a put of this many rows goes through COPY


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


class PostgresStore:
    """Items with fields and one vector each, in a PostgreSQL table with a pgvector column."""

    kind = "postgres"
    capabilities = frozenset({LEXICAL})

    def __init__(self, url: str, conn: Any, table: str, manifest: dict[str, Any]) -> None:
        self.url, self.table, self._conn = url, table, conn
        self.location = redact(url)
        self.manifest = manifest
        self.dim = int(manifest["encoder"]["dim"])
        self._catalog: tuple[int, flt.FieldCatalog] | None = None
        self._lexical = False

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
    def create(cls, url: str, manifest: dict[str, Any], encoder: Encoder, overwrite: bool = False) -> PostgresStore:
        """A new, empty store in table ``?table=`` (default ``jointspace``) of the database at ``url``."""
        _, table = split_url(url)
        index_params = dict(manifest["index"])
        if index_params.get("kind") not in ("flat", "hnsw"):
            raise JointspaceError(f"unknown index kind {index_params.get('kind')!r}; use flat or hnsw")
        if index_params["kind"] == "hnsw":
            index_params = {**DEFAULT_INDEX, **index_params}
            if encoder.dim > HNSW_MAX_DIM:
                raise JointspaceError(f"pgvector's HNSW index takes at most {HNSW_MAX_DIM} dimensions; encoder "
                                      f"{encoder.name!r} gives {encoder.dim}: use index='flat' (an exact scan) or a "
                                      "smaller encoder")
        manifest = {"format": PG_FORMAT_VERSION, "jointspace": __version__, **manifest, "index": index_params}
        conn = connect(url)
        try:
            if cls._exists(conn, table) or cls._exists(conn, f"{table}_meta"):
                if not overwrite:
                    raise JointspaceError(f"{redact(url)}: table {table!r} exists already "
                                          "(open it, or overwrite=True)")
            store = cls(url, conn, table, manifest)
            with conn.transaction():
                if overwrite:
                    conn.execute(store._q("DROP TABLE IF EXISTS {t}, {meta}"))
                conn.execute(store._q("CREATE TABLE {t} (seq BIGSERIAL, id TEXT PRIMARY KEY, "
                                      "fields JSONB NOT NULL, embedding vector(" + str(int(encoder.dim))
                                      + ") NOT NULL)"))
                conn.execute(store._q("CREATE INDEX {gin} ON {t} USING gin (fields jsonb_path_ops)"))
                conn.execute(store._q("CREATE TABLE {meta} (key TEXT PRIMARY KEY, value JSONB, blob BYTEA)"))
                store._create_vector_index()
                from jointspace.stores import pg_lexical

                pg_lexical.ensure(conn, table)  # kept in the same commits as the rows from the start
                store._put_meta("manifest", manifest)
                store._put_meta("encoder", {"name": encoder.name}, encoder_to_bytes(encoder))
                store._put_meta("generation", 0)
                store._put_meta("format", PG_FORMAT_VERSION)  # the version marker, checked by open
        except BaseException:
            conn.close()
            raise
        return store

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
    def open(cls, url: str) -> PostgresStore:
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
            if rows.get("manifest") is None:
                raise FormatError(f"{redact(url)}: table {table!r} is damaged (no manifest)")
        except BaseException:
            conn.close()
            raise
        return cls(url, conn, table, rows["manifest"])

    def _put_meta(self, key: str, value: Any, blob: bytes | None = None) -> None:
        from psycopg.types.json import Jsonb

        self._conn.execute(self._q("INSERT INTO {meta} (key, value, blob) VALUES (%s, %s, %s) "
                                   "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, blob = EXCLUDED.blob"),
                           (key, Jsonb(value), blob))

    def load_encoder(self) -> Encoder:
        row = self._conn.execute(self._q("SELECT blob FROM {meta} WHERE key = 'encoder'")).fetchone()
        if row is None or row[0] is None:
            raise FormatError(f"{self.location}: table {self.table!r} is damaged (no encoder state)")
        return encoder_from_bytes(bytes(row[0]))

    def save_encoder(self, encoder: Encoder) -> None:
        with self._conn.transaction():
            self._put_meta("encoder", {"name": encoder.name}, encoder_to_bytes(encoder))
            self._bump()

    def generation(self) -> int:
        row = self._conn.execute(self._q("SELECT value FROM {meta} WHERE key = 'generation'")).fetchone()
        return int(row[0]) if row is not None else 0

    def _bump(self) -> None:
        self._conn.execute(self._q("INSERT INTO {meta} (key, value) VALUES ('generation', '1'::jsonb) "
                                   "ON CONFLICT (key) DO UPDATE SET value = to_jsonb(({meta}.value)::int + 1)"))

    def _create_vector_index(self) -> None:
        params = self.manifest["index"]
        if params["kind"] != "hnsw":
            return
        with_ = f"WITH (m = {int(params['m'])}, ef_construction = {int(params['ef_construction'])})"
        self._conn.execute(self._q("CREATE INDEX IF NOT EXISTS {hnsw} ON {t} USING hnsw (embedding vector_ip_ops) "
                                   + with_))

    def close(self) -> None:
        self._conn.close()

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._conn.execute(self._q("SELECT COUNT(*) FROM {t}")).fetchone()[0]

    def __contains__(self, item_id: object) -> bool:
        return self._conn.execute(self._q("SELECT 1 FROM {t} WHERE id = %s"), (str(item_id),)).fetchone() is not None

    def ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute(self._q("SELECT id FROM {t} ORDER BY seq"))]

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = self._conn.execute(self._q("SELECT id, fields FROM {t} WHERE id = ANY(%s)"),
                                  ([str(i) for i in ids],)).fetchall()
        return {r[0]: r[1] for r in rows}

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        ids = [str(i) for i in ids]
        rows = dict(self._conn.execute(self._q("SELECT id, embedding FROM {t} WHERE id = ANY(%s)"), (ids,)))
        for item_id in ids:
            if item_id not in rows:
                raise KeyError(f"no item with id {item_id!r} in {self.location} (table {self.table})")
        if not ids:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([_array(rows[i]) for i in ids])

    def iterate(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        """All items as ``(ids, fields, vectors)`` chunks, in insertion order (a server-side cursor)."""
        with self._conn.transaction(), self._conn.cursor(name=f"jointspace_iter_{id(self)}") as cur:
            cur.itersize = batch_size
            cur.execute(self._q("SELECT id, fields, embedding FROM {t} ORDER BY seq"))
            while rows := cur.fetchmany(batch_size):
                yield [r[0] for r in rows], [r[1] for r in rows], np.stack([_array(r[2]) for r in rows])

    def search(self, vectors: np.ndarray, k: int, where: Any = None) -> list[list[Hit]]:
        """Top-k per query by inner product; with an HNSW index, pgvector's iterative scan keeps
        filtered queries returning k hits where k rows match."""
        queries = check_vectors(vectors, self.dim)
        cond, params = flt.to_postgres(flt.parse(where))
        statement = self._q("SELECT id, fields, -(embedding <#> %s) AS score FROM {t} WHERE " + cond
                            + " ORDER BY embedding <#> %s LIMIT %s")
        index = self.manifest["index"]
        out = []
        for vector in queries:
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
    def put(self, rows: Sequence[Row], deadline: float | None = None) -> WriteReport:
        """Insert or replace rows in one transaction. Large batches go through COPY into a temporary table,
        then one upsert; a bulk load into an empty table builds the HNSW index after the rows."""
        from psycopg.types.json import Jsonb

        report = WriteReport()
        if not rows:
            return report
        conn = self._conn
        with conn.transaction():
            existing = {r[0] for r in conn.execute(self._q("SELECT id FROM {t} WHERE id = ANY(%s)"),
                                                   ([r.id for r in rows],))}
            final: dict[str, Row] = {}
            for row in rows:
                if row.id in existing and not row.replace:
                    report.skipped.append(Skipped(f"id {row.id!r}", "id exists already (use upsert)"))
                    continue
                if row.id in existing or row.id in final:
                    report.updated += 1
                else:
                    report.added += 1
                final[row.id] = row
            values = [(r.id, Jsonb(json.loads(json.dumps(r.fields, default=str))), np.asarray(r.vector, np.float32))
                      for r in final.values()]
            if len(values) >= BULK_ROWS:
                self._copy_upsert(values)
            elif values:
                with conn.cursor() as cur:
                    cur.executemany(self._q("INSERT INTO {t} (id, fields, embedding) VALUES (%s, %s, %s) "
                                            "ON CONFLICT (id) DO UPDATE SET fields = EXCLUDED.fields, "
                                            "embedding = EXCLUDED.embedding"), values)
            if final and self._has_lexical():
                from jointspace.stores import pg_lexical

                pg_lexical.rebuild(conn, self.table, [(r.id, lexical_text(r.fields, self.manifest))
                                                      for r in final.values()])
            self._bump()
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"{self.location}: the write passed its deadline before it committed; "
                                       "it was rolled back")
        return report

    def _copy_upsert(self, values: list[tuple[str, Any, np.ndarray]]) -> None:
        conn = self._conn
        rebuild = (self.manifest["index"]["kind"] == "hnsw" and len(values) >= BULK_REBUILD_ROWS
                   and conn.execute(self._q("SELECT NOT EXISTS (SELECT 1 FROM {t})")).fetchone()[0])
        if rebuild:
            conn.execute(self._q("DROP INDEX IF EXISTS {hnsw}"))
        conn.execute(f"CREATE TEMP TABLE jointspace_load (ord BIGSERIAL, id TEXT, fields JSONB, "
                     f"embedding vector({int(self.dim)})) ON COMMIT DROP")
        with conn.cursor().copy("COPY jointspace_load (id, fields, embedding) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        conn.execute(self._q(
            "INSERT INTO {t} (id, fields, embedding) SELECT DISTINCT ON (id) id, fields, embedding "
            "FROM jointspace_load ORDER BY id, ord DESC "
            "ON CONFLICT (id) DO UPDATE SET fields = EXCLUDED.fields, embedding = EXCLUDED.embedding"))
        if rebuild:
            conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
            self._create_vector_index()

    def delete(self, ids: Sequence[str], deadline: float | None = None) -> WriteReport:
        """Remove items by id, in one transaction. Unknown ids are reported in ``skipped``."""
        report = WriteReport()
        wanted = list(dict.fromkeys(str(i) for i in ids))
        with self._conn.transaction():
            gone = {r[0] for r in self._conn.execute(self._q("DELETE FROM {t} WHERE id = ANY(%s) RETURNING id"),
                                                     (wanted,))}
            self._bump()
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"{self.location}: the delete passed its deadline before it committed; "
                                       "it was rolled back")
        report.deleted = len(gone)
        report.skipped = [Skipped(f"id {i!r}", "no such item") for i in wanted if i not in gone]
        return report

    def catalog(self) -> flt.FieldCatalog:
        """Field name -> kinds and counts (nested objects as dotted names), computed by the server and kept
        until the next write."""
        generation = self.generation()
        if self._catalog is not None and self._catalog[0] == generation:
            return self._catalog[1]
        kinds = {"number": "number", "string": "string", "boolean": "bool", "array": "list", "object": "object",
                 "null": "null"}
        rows = self._conn.execute(self._q(
            "WITH RECURSIVE f(path, value) AS ("
            " SELECT e.key, e.value FROM {t}, jsonb_each({t}.fields) AS e WHERE position('.' in e.key) = 0"
            " UNION ALL"
            " SELECT f.path || '.' || e.key, e.value FROM f, jsonb_each(f.value) AS e"
            " WHERE jsonb_typeof(f.value) = 'object' AND position('.' in e.key) = 0)"
            " SELECT path, jsonb_typeof(value), count(*) FROM f GROUP BY 1, 2")).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for path, kind, n in rows:
            counts.setdefault(path, {})[kinds.get(kind, "null")] = int(n)
        catalog = flt.FieldCatalog(counts)
        self._catalog = (generation, catalog)
        return catalog

    def ids_where(self, where: Any) -> list[str]:
        cond, params = flt.to_postgres(flt.parse(where))
        return [r[0] for r in self._conn.execute(self._q("SELECT id FROM {t} WHERE " + cond + " ORDER BY seq"),
                                                 params)]

    def lexical_search(self, query: str, k: int, where: Any = None, with_terms: bool = True) -> list[Hit]:
        """The k best items by PostgreSQL full-text rank among those passing ``where`` (the tsvector column
        is added and filled on first use for tables written before it existed)."""
        from jointspace.stores import pg_lexical

        self.ensure_lexical()
        cond, params = flt.to_postgres(flt.parse(where))
        found = pg_lexical.search(self._conn, self.table, query, k, where_sql=cond, where_params=params)
        if not found:
            return []
        fields = self.get([h.rowid for h in found])
        return [Hit(h.rowid, h.score, fields[h.rowid], {"terms": h.terms}) for h in found if h.rowid in fields]

    def _has_lexical(self) -> bool:
        from jointspace.stores import pg_lexical

        if not self._lexical:
            self._lexical = pg_lexical.has_column(self._conn, self.table)
        return self._lexical

    def ensure_lexical(self, progress: Any = None) -> bool:
        from jointspace.stores import pg_lexical

        if self._has_lexical():
            return False
        with self._conn.transaction():
            pg_lexical.ensure(self._conn, self.table)
            rows = [(r[0], lexical_text(r[1], self.manifest))
                    for r in self._conn.execute(self._q("SELECT id, fields FROM {t}")).fetchall()]
            pg_lexical.rebuild(self._conn, self.table, rows, key_column="id", progress=progress)
            self._bump()
        self._lexical = True
        return True

    def field_values(self, name: str) -> dict[str, int]:
        rows = self._conn.execute(self._q("SELECT fields ->> %s, count(*) FROM {t} GROUP BY 1"), (name,)).fetchall()
        return {(r[0] or ""): int(r[1]) for r in rows}

    # -- facts --------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        size = self._conn.execute("SELECT pg_total_relation_size(to_regclass(%s))", (f'"{self.table}"',)
                                  ).fetchone()[0]
        return {"path": self.location, "backend": self.kind, "table": self.table, "count": len(self),
                "format": self.manifest["format"], "generation": self.generation(), "bytes_on_disk": int(size or 0)}


def _array(value: Any) -> np.ndarray:
    """A pgvector value (numpy array or pgvector's ``Vector``) as float32."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)
