"""PostgreSQL full-text search as the lexical side of hybrid search: a ``tsvector`` column with a GIN index.

Why built-in full text and not an extension: ``tsvector``/``ts_rank_cd`` ship with every PostgreSQL, so
the lexical column is written by the same INSERT (same transaction) as the vector and needs nothing more
on the server. The query is tokenised in Python exactly as the embedded store does (word tokens, no
syntax), and each token goes through ``plainto_tsquery`` (stemming, stop words) as a bound parameter,
so no user text is ever parsed as tsquery syntax. The tsquery is the OR of the tokens.

Scores are ``ts_rank_cd(lexical, query)`` (cover density; higher is better): not BM25, so compare ranks,
not raw scores, with the embedded store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from psycopg import sql

from jointspace.errors import JointspaceError
from jointspace.stores.embedded.lexical import LexicalHit, query_terms

COLUMN = "lexical"
#: the text search configuration of new columns (stemming and stop words for English)
DEFAULT_CONFIG = "english"
REBUILD_BATCH = 2000

_CONFIG = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _config(config: str) -> str:
    if not _CONFIG.match(config):
        raise JointspaceError(f"text search configuration {config!r} is not a plain name")
    return config


def _table(table: str) -> sql.Composable:
    """A table name, optionally schema-qualified, as quoted identifiers."""
    return sql.Identifier(*table.split("."))


def index_name(table: str) -> str:
    return f"{table.split('.')[-1]}_{COLUMN}_gin"


def has_column(conn: Any, table: str) -> bool:
    """Whether ``table`` has the lexical column already (False for a table that does not exist either)."""
    qualified = ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))
    row = conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
                       "AND NOT attisdropped", (qualified, COLUMN)).fetchone()
    return row is not None


def ensure(conn: Any, table: str) -> bool:
    """Add the ``lexical tsvector`` column and its GIN index when missing; True when the column was added.

    A True answer means existing rows have an empty (NULL) lexical column: fill them with ``rebuild``.
    """
    added = not has_column(conn, table)
    if added:
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} tsvector").format(
            _table(table), sql.Identifier(COLUMN)))
    conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin ({})").format(
        sql.Identifier(index_name(table)), _table(table), sql.Identifier(COLUMN)))
    return added


def value_sql(config: str = DEFAULT_CONFIG) -> str:
    """The SQL value for the lexical column in an INSERT or UPDATE: one ``%s`` placeholder for the text.

    E.g. ``INSERT INTO t (id, ..., lexical) VALUES (%s, ..., {value_sql()})``.
    """
    return f"to_tsvector('{_config(config)}', coalesce(%s::text, ''))"


def rebuild(conn: Any, table: str, rows: Iterable[tuple[Any, str]], key_column: str = "id",
            config: str = DEFAULT_CONFIG, progress: Callable[[int], None] | None = None) -> int:
    """Set the lexical column of each (key, text) row; ``progress(n)`` after each batch. Returns the count."""
    ensure(conn, table)
    stmt = sql.SQL("UPDATE {} SET {} = " + value_sql(config) + " WHERE {} = %s").format(
        _table(table), sql.Identifier(COLUMN), sql.Identifier(key_column))
    total, batch = 0, []
    with conn.cursor() as cur:
        for key, text in rows:
            batch.append((text, key))
            if len(batch) == REBUILD_BATCH:
                cur.executemany(stmt, batch)
                total += len(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            cur.executemany(stmt, batch)
            total += len(batch)
            if progress:
                progress(len(batch))
    return total


def search(conn: Any, table: str, query: str, k: int, where_sql: str | None = None,
           where_params: Sequence[Any] = (), key_column: str = "id", config: str = DEFAULT_CONFIG
           ) -> list[LexicalHit]:
    """The ``k`` rows ranked best by ``ts_rank_cd`` for any query term, among rows passing ``where_sql``.

    ``where_sql`` is a trusted SQL condition with ``%s`` placeholders (from the store's filter compiler),
    ``where_params`` its values; it is part of the ranking query, so k hits come back whenever k rows pass
    it and contain a term. ``LexicalHit.rowid`` is the row's ``key_column``; ``terms`` the query tokens
    (after the same stemming) that the row contains. A query with no usable token returns ``[]``.
    """
    if k < 1:
        raise JointspaceError(f"k must be at least 1, not {k}")
    cfg = _config(config)
    terms = query_terms(query)
    if not terms:
        return []
    # stop words give empty tsqueries: keep the terms that mean something to this configuration
    rows = conn.execute(
        "SELECT t, plainto_tsquery(%s::regconfig, t)::text FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, i) "
        "ORDER BY i", (cfg, terms)).fetchall()
    terms = [t for t, q in rows if q]
    if not terms:
        return []
    per_term = [sql.SQL("plainto_tsquery({}::regconfig, {})").format(sql.Literal(cfg), sql.Literal(t))
                for t in terms]
    tsq = sql.SQL("(") + sql.SQL(" || ").join(per_term) + sql.SQL(")")
    col = sql.Identifier(COLUMN)
    matched = sql.SQL("ARRAY[") + sql.SQL(", ").join(
        sql.SQL("{} @@ {}").format(col, q) for q in per_term) + sql.SQL("]")
    stmt = sql.SQL("SELECT {key}, ts_rank_cd({col}, q.q) AS score, {matched} FROM {t}, (SELECT {tsq} AS q) AS q "
                   "WHERE {col} @@ q.q").format(key=sql.Identifier(key_column), col=col, matched=matched,
                                                t=_table(table), tsq=tsq)
    if where_sql:
        stmt = stmt + sql.SQL(" AND (") + sql.SQL(where_sql) + sql.SQL(")")  # type: ignore[arg-type]
    stmt = stmt + sql.SQL(" ORDER BY score DESC, {} LIMIT %s").format(sql.Identifier(key_column))
    found = conn.execute(stmt, (*where_params, int(k))).fetchall()
    return [LexicalHit(key, float(score), [t for t, hit in zip(terms, flags, strict=True) if hit])
            for key, score, flags in found]
