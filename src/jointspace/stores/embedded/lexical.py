"""A BM25 lexical index in SQLite FTS5, kept in the same transaction as the items it indexes.

Why FTS5: it ships inside SQLite, so the lexical index commits (or rolls back) with the vectors in one
transaction and can never disagree with them. Rows are keyed by the items table's ``rowid``.

User text never reaches FTS5's query language: a query is split into word tokens here and each token is
sent as a quoted phrase (``"tok" OR "tok2"``), so quotes, ``*``, ``-``, ``AND``/``NOT``, ``NEAR`` and
parentheses are plain text, never syntax. A query with no word token matches nothing (``[]``).

Scores are FTS5's ``bm25()`` negated, so higher is better (k1 = 1.2, b = 0.75, IDF ``log((N - n + 0.5) /
(n + 0.5))`` floored at 1e-6, N and the average length taken over the whole table: a filter restricts
which rows rank, not the statistics they are ranked with).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.errors import JointspaceError

#: the tokenizer of new lexical tables: Porter stemming over Unicode 6.1 word characters, accents folded
DEFAULT_TOKENIZER = "porter unicode61 remove_diacritics 2"
#: rows per INSERT statement batch in ``rebuild``
REBUILD_BATCH = 2000
#: allowed sets up to this size are sent into the ranking query; larger ones filter the ranked stream
IN_SQL_MAX = 20000
#: most query terms honoured (a longer query keeps its first distinct terms)
MAX_TERMS = 64

# FTS5's unicode61 keeps letters, numbers and private-use characters as token characters; the underscore
# (a connector punctuation) separates tokens there, so it does here too.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def query_terms(query: str, limit: int = MAX_TERMS) -> list[str]:
    """The distinct lower-cased word tokens of ``query`` in order of first appearance (at most ``limit``)."""
    if not isinstance(query, str):
        raise JointspaceError(f"a lexical query must be text, not {type(query).__name__}")
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(query.lower()):
        seen.setdefault(match.group(0), None)
        if len(seen) == limit:
            break
    return list(seen)


def quote(term: str) -> str:
    """``term`` as an FTS5 string (a phrase): double quotes doubled, so it can never be query syntax."""
    return '"' + term.replace('"', '""') + '"'


@dataclass
class LexicalHit:
    """One lexical match: the row's key, its BM25 score (higher is better) and the query terms it contains."""

    rowid: Any
    score: float
    terms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rowid": self.rowid, "score": round(float(self.score), 6), "terms": list(self.terms)}


def _rowid_json(rowids: Iterable[int] | np.ndarray) -> str:
    return json.dumps([int(r) for r in np.asarray(rowids, dtype=np.int64).ravel()])


class LexicalIndex:
    """An FTS5 table ``table(text)`` whose rowids are the items' rowids; every call uses the caller's connection.

    None of the methods commits: they run inside whatever transaction the caller has open, so the lexical
    rows and the vectors are written by the same commit.
    """

    def __init__(self, table: str = "lexical", tokenizer: str = DEFAULT_TOKENIZER) -> None:
        if not _IDENT.match(table):
            raise JointspaceError(f"lexical table name {table!r} is not a plain SQL identifier")
        if "'" in tokenizer:
            raise JointspaceError(f"tokenizer {tokenizer!r} must not contain quotes")
        self.table = table
        self.tokenizer = tokenizer

    # -- schema -----------------------------------------------------------------------------------
    def exists(self, db: sqlite3.Connection) -> bool:
        row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self.table,)).fetchone()
        return row is not None

    def ensure(self, db: sqlite3.Connection) -> bool:
        """Create the FTS5 table when missing; True when it had to be created (the caller then fills it)."""
        if self.exists(db):
            return False
        try:
            db.execute(f"CREATE VIRTUAL TABLE {self.table} USING fts5(text, tokenize = '{self.tokenizer}')")
        except sqlite3.OperationalError as exc:
            raise JointspaceError(f"cannot create the lexical index {self.table!r}: {exc} "
                                  "(this SQLite needs FTS5)") from exc
        return True

    def drop(self, db: sqlite3.Connection) -> None:
        db.execute(f"DROP TABLE IF EXISTS {self.table}")

    def count(self, db: sqlite3.Connection) -> int:
        return int(db.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def rowids(self, db: sqlite3.Connection) -> np.ndarray:
        """Every indexed rowid, ascending (to check the index against the items table)."""
        return np.fromiter((r[0] for r in db.execute(f"SELECT rowid FROM {self.table} ORDER BY rowid")),
                           dtype=np.int64)

    # -- writes -----------------------------------------------------------------------------------
    def put(self, db: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
        """Index (rowid, text) rows, replacing what those rowids held before."""
        rows = [(int(rowid), self._text(rowid, text)) for rowid, text in rows]
        if not rows:
            return
        self.delete(db, [r[0] for r in rows])
        db.executemany(f"INSERT INTO {self.table}(rowid, text) VALUES (?, ?)", rows)

    def delete(self, db: sqlite3.Connection, rowids: Iterable[int] | np.ndarray) -> None:
        payload = _rowid_json(list(rowids) if not isinstance(rowids, np.ndarray) else rowids)
        if payload != "[]":
            db.execute(f"DELETE FROM {self.table} WHERE rowid IN (SELECT value FROM json_each(?))", (payload,))

    def rebuild(self, db: sqlite3.Connection, rows: Iterable[tuple[int, str]],
                progress: Callable[[int], None] | None = None) -> int:
        """Empty the index and fill it from ``rows`` (e.g. every item); ``progress(n)`` after each batch."""
        self.ensure(db)
        db.execute(f"DELETE FROM {self.table}")
        total, batch = 0, []
        for rowid, text in rows:
            batch.append((int(rowid), self._text(rowid, text)))
            if len(batch) == REBUILD_BATCH:
                total += self._insert(db, batch, progress)
                batch = []
        if batch:
            total += self._insert(db, batch, progress)
        return total

    def _insert(self, db: sqlite3.Connection, batch: list[tuple[int, str]],
                progress: Callable[[int], None] | None) -> int:
        db.executemany(f"INSERT INTO {self.table}(rowid, text) VALUES (?, ?)", batch)
        if progress:
            progress(len(batch))
        return len(batch)

    @staticmethod
    def _text(rowid: Any, text: Any) -> str:
        if text is None:
            return ""
        if not isinstance(text, str):
            raise JointspaceError(f"row {rowid}: lexical text must be a string, not {type(text).__name__}")
        return text

    # -- search -----------------------------------------------------------------------------------
    def search(self, db: sqlite3.Connection, query: str, k: int,
               allowed_rowids: np.ndarray | Sequence[int] | None = None, with_terms: bool = True
               ) -> list[LexicalHit]:
        """The ``k`` best rows by BM25 for any of the query's terms, among ``allowed_rowids`` when given.

        ``with_terms=False`` leaves ``LexicalHit.terms`` empty and saves one small query per term (the
        matched terms are for ``explain``).

        The restriction is part of the ranking query, so ``k`` hits come back whenever ``k`` allowed rows
        contain a query term.
        """
        if k < 1:
            raise JointspaceError(f"k must be at least 1, not {k}")
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(quote(t) for t in terms)
        sql = (f"SELECT rowid, -bm25({self.table}) FROM {self.table} WHERE {self.table} MATCH ?"
               f"{{restrict}} ORDER BY bm25({self.table}), rowid")
        if allowed_rowids is None:
            found = db.execute(sql.format(restrict="") + " LIMIT ?", (match, int(k))).fetchall()
        else:
            allowed = np.asarray(allowed_rowids, dtype=np.int64).ravel()
            if not len(allowed):
                return []
            if len(allowed) <= IN_SQL_MAX:  # a small set: the restriction goes into the query
                found = db.execute(sql.format(restrict=" AND rowid IN (SELECT value FROM json_each(?))")
                                   + " LIMIT ?", (match, _rowid_json(allowed), int(k))).fetchall()
            else:  # a large set: walk the ranked matches, keeping allowed ones, until k are found
                keep = set(allowed.tolist())
                cursor = db.execute(sql.format(restrict=""), (match,))
                found = []
                while len(found) < k:
                    batch = cursor.fetchmany(max(256, 4 * k))
                    if not batch:
                        break
                    found += [row for row in batch if row[0] in keep]
                cursor.close()
                found = found[:k]
        if not found:
            return []
        if not with_terms:
            return [LexicalHit(int(rowid), float(score)) for rowid, score in found]
        matched = self.matched_terms(db, [r[0] for r in found], terms)
        return [LexicalHit(int(rowid), float(score), matched[int(rowid)]) for rowid, score in found]

    def matched_terms(self, db: sqlite3.Connection, rowids: Sequence[int], terms: Sequence[str]
                      ) -> dict[int, list[str]]:
        """For each rowid, which of ``terms`` (query tokens, matched through the same stemming) it contains."""
        out: dict[int, list[str]] = {int(r): [] for r in rowids}
        payload = _rowid_json(rowids)
        for term in terms:
            for (rowid,) in db.execute(f"SELECT rowid FROM {self.table} WHERE {self.table} MATCH ? "
                                       "AND rowid IN (SELECT value FROM json_each(?))", (quote(term), payload)):
                out[int(rowid)].append(term)
        return out
