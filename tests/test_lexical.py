"""The lexical indexes: SQLite FTS5 BM25 checked against BM25 computed here from the formula, and PostgreSQL
full text against a real server; hostile query text, filters before ranking, transactions."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from _pgserver import postgres_server

from jointspace.errors import JointspaceError
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.stores import pg_lexical
from jointspace.stores.embedded import lexical
from jointspace.stores.embedded.lexical import LexicalIndex, query_terms

PLAIN = "unicode61 remove_diacritics 2"  # no stemming: the brute force below tokenises the same way

HOSTILE = ['"', '""', "'", "*", "-", "-dog", "dog*", "AND", "OR", "NOT", "a AND", "AND b", "(", ")", "((dog)",
           "NEAR(dog cat)", 'dog" OR "cat', "text:dog", "^dog", "{text}: dog", "dog + cat", "\\", "%", "_",
           "dog\x00cat", "     ", "", "🐕", "naïve café", "dog -cat NOT fish", "col:*", "1 = 1; DROP TABLE items"]


def tokens(text: str) -> list[str]:
    """unicode61 with remove_diacritics 2 on this text: lower case, accents off, runs of letters/digits."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+", text)


def brute_bm25(docs: dict[int, str], query: str, k1: float = 1.2, b: float = 0.75
               ) -> dict[int, tuple[float, list[str]]]:
    """BM25 of every document containing a query term, from the formula (FTS5's variant of the IDF):
    ``sum_t idf(t) * f (k1 + 1) / (f + k1 (1 - b + b |D| / avgdl))``, ``idf = log((N - n + .5) / (n + .5))``
    floored at 1e-6. Returns rowid -> (score, matched query terms)."""
    toks = {r: tokens(t) for r, t in docs.items()}
    n_docs = len(toks)
    avgdl = sum(len(t) for t in toks.values()) / n_docs
    counts = {r: Counter(t) for r, t in toks.items()}
    terms = list(dict.fromkeys(tokens(query)))
    out: dict[int, tuple[float, list[str]]] = {}
    for term in terms:
        n_t = sum(1 for c in counts.values() if term in c)
        if not n_t:
            continue
        idf = max(math.log((n_docs - n_t + 0.5) / (n_t + 0.5)), 1e-6)
        for r, c in counts.items():
            f = c.get(term, 0)
            if f:
                s = idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(toks[r]) / avgdl))
                old = out.get(r, (0.0, []))
                out[r] = (old[0] + s, old[1] + [term])
    return out


def brute_top(docs: dict[int, str], query: str, k: int, allowed: set[int] | None = None
              ) -> list[tuple[int, float, list[str]]]:
    scored = [(r, s, t) for r, (s, t) in brute_bm25(docs, query).items() if allowed is None or r in allowed]
    return sorted(scored, key=lambda x: (-x[1], x[0]))[:k]


@pytest.fixture(scope="module")
def corpus() -> dict[int, str]:
    """600 real WordNet glosses (+ lemmas) keyed by rowids with gaps, as an items table would have them."""
    return {3 * i + 7: f"{', '.join(s.lemmas).replace('_', ' ')}: {s.definition}"
            for i, s in enumerate(wordnet_sample(600, seed=11))}


@pytest.fixture()
def db(corpus: dict[int, str]) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    lex = LexicalIndex(tokenizer=PLAIN)
    assert lex.ensure(conn) is True
    assert lex.ensure(conn) is False
    lex.put(conn, list(corpus.items()))
    yield conn
    conn.close()


def queries(corpus: dict[int, str]) -> list[str]:
    """Real queries: a few words from other glosses, plus a rare word and a common one."""
    texts = list(corpus.values())
    return [" ".join(t.split()[1:6]) for t in texts[::37]] + ["aquatic", "the of a", "plant or animal"]


def test_bm25_equals_the_formula(db: sqlite3.Connection, corpus: dict[int, str]) -> None:
    lex = LexicalIndex(tokenizer=PLAIN)
    checked = 0
    for q in queries(corpus):
        ours = lex.search(db, q, 10)
        theirs = brute_top(corpus, q, 10)
        assert [h.rowid for h in ours] == [r for r, _, _ in theirs], q
        assert np.allclose([h.score for h in ours], [s for _, s, _ in theirs], rtol=1e-9, atol=1e-12), q
        assert [sorted(h.terms) for h in ours] == [sorted(t) for _, _, t in theirs], q
        bare = lex.search(db, q, 10, with_terms=False)
        assert [(h.rowid, h.score) for h in bare] == [(h.rowid, h.score) for h in ours]
        assert all(h.terms == [] for h in bare)
        checked += len(ours)
    assert checked > 100


@pytest.mark.parametrize("in_sql_max", [20000, 10])  # the set inside the query / filtering the ranked stream
def test_filters_apply_before_ranking(db: sqlite3.Connection, corpus: dict[int, str], in_sql_max: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical, "IN_SQL_MAX", in_sql_max)
    lex = LexicalIndex(tokenizer=PLAIN)
    rng = np.random.default_rng(3)
    allowed = rng.choice(np.array(list(corpus)), 120, replace=False)
    q = "a person who works"
    everywhere = lex.search(db, q, 10)
    ours = lex.search(db, q, 10, allowed_rowids=allowed)
    theirs = brute_top(corpus, q, 10, set(allowed.tolist()))
    assert len(theirs) == 10  # enough allowed rows match, so a post-filter would have come back short
    assert not {h.rowid for h in everywhere} <= set(allowed.tolist())
    assert [h.rowid for h in ours] == [r for r, _, _ in theirs]
    assert np.allclose([h.score for h in ours], [s for _, s, _ in theirs])
    assert lex.search(db, q, 10, allowed_rowids=np.array([], dtype=np.int64)) == []
    one = int(theirs[3][0])
    assert [h.rowid for h in lex.search(db, q, 10, allowed_rowids=[one])] == [one]
    for size in (30, 400):  # mostly rows without a query term: k hits still, when k matching rows pass
        subset = np.array(list(corpus))[::len(corpus) // size][:size]
        want = brute_top(corpus, q, 10, set(subset.tolist()))
        assert [h.rowid for h in lex.search(db, q, 10, allowed_rowids=subset)] == [r for r, _, _ in want]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_text_is_never_syntax(db: sqlite3.Connection, corpus: dict[int, str], query: str) -> None:
    lex = LexicalIndex(tokenizer=PLAIN)
    hits = lex.search(db, query, 5)
    if not query_terms(query):
        assert hits == []
    theirs = brute_top(corpus, query, 5)
    assert [h.rowid for h in hits] == [r for r, _, _ in theirs]


def test_default_tokenizer_stems_and_reports_the_users_words() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    lex = LexicalIndex()
    lex.ensure(db)
    lex.put(db, [(1, "She runs every morning"), (2, "a quiet evening"), (3, "Running shoes for runners")])
    hits = lex.search(db, "running", 5)
    assert {h.rowid for h in hits} == {1, 3}
    assert all(h.terms == ["running"] for h in hits)
    assert [h.rowid for h in lex.search(db, "EVENINGS!", 5)] == [2]
    assert lex.search(db, "zebra", 5) == []


def test_writes_ride_the_callers_transaction(corpus: dict[int, str]) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE items (rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, text TEXT)")
    lex = LexicalIndex()
    db.execute("BEGIN")
    assert lex.ensure(db)
    db.execute("INSERT INTO items VALUES (1, 'a', 'aardvark burrows')")
    lex.put(db, [(1, "aardvark burrows")])
    db.execute("ROLLBACK")
    assert not lex.exists(db)  # the table itself was part of the rolled-back transaction
    db.execute("BEGIN")
    lex.ensure(db)
    db.executemany("INSERT INTO items VALUES (?, ?, ?)", [(r, str(r), t) for r, t in corpus.items()])
    lex.put(db, list(corpus.items()))
    db.execute("COMMIT")
    db.execute("BEGIN")
    gone = list(corpus)[:50]
    lex.delete(db, gone)
    db.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in gone])
    lex.put(db, [(list(corpus)[60], "zyzzyva weevil")])  # replaces the row's text
    db.execute("COMMIT")
    items = np.array([r for (r,) in db.execute("SELECT rowid FROM items ORDER BY rowid")])
    assert np.array_equal(lex.rowids(db), items)
    assert [h.rowid for h in lex.search(db, "zyzzyva", 3)] == [list(corpus)[60]]
    assert lex.count(db) == len(corpus) - 50


def test_rebuild_reports_progress_and_replaces_everything(corpus: dict[int, str]) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    lex = LexicalIndex(tokenizer=PLAIN)
    lex.ensure(db)
    lex.put(db, [(99999, "stale row")])
    seen: list[int] = []
    assert lex.rebuild(db, iter(corpus.items()), progress=seen.append) == len(corpus)
    assert sum(seen) == len(corpus) and seen
    assert lex.count(db) == len(corpus) and lex.search(db, "stale", 5) == []


def test_bad_input_is_a_clear_error(db: sqlite3.Connection) -> None:
    lex = LexicalIndex(tokenizer=PLAIN)
    with pytest.raises(JointspaceError, match="k must be"):
        lex.search(db, "dog", 0)
    with pytest.raises(JointspaceError, match="must be text"):
        lex.search(db, 42, 5)  # type: ignore[arg-type]
    with pytest.raises(JointspaceError, match="row 5"):
        lex.put(db, [(5, b"bytes")])  # type: ignore[list-item]
    with pytest.raises(JointspaceError, match="identifier"):
        LexicalIndex(table="x; DROP TABLE items")


# -- PostgreSQL ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(corpus: dict[int, str]) -> Iterator[object]:
    import psycopg

    with postgres_server() as url:
        conn = psycopg.connect(url, autocommit=True)
        conn.execute("DROP TABLE IF EXISTS lexdocs")
        conn.execute("CREATE TABLE lexdocs (seq BIGSERIAL, id TEXT PRIMARY KEY, fields JSONB NOT NULL)")
        # a table written before the lexical column existed: ensure adds it, rebuild fills it
        conn.cursor().executemany("INSERT INTO lexdocs (id, fields) VALUES (%s, %s::jsonb)",
                                  [(str(r), json.dumps({"n": r % 5})) for r in list(corpus)[:100]])
        assert pg_lexical.ensure(conn, "lexdocs") is True
        assert pg_lexical.ensure(conn, "lexdocs") is False
        seen: list[int] = []
        assert pg_lexical.rebuild(conn, "lexdocs", [(str(r), corpus[r]) for r in list(corpus)[:100]],
                                  progress=seen.append) == 100
        assert sum(seen) == 100
        rest = list(corpus.items())[100:]
        conn.cursor().executemany(
            f"INSERT INTO lexdocs (id, fields, lexical) VALUES (%s, %s::jsonb, {pg_lexical.value_sql()})",
            [(str(r), json.dumps({"n": r % 5}), t) for r, t in rest])
        yield conn
        conn.close()


def test_pg_finds_the_rows_holding_the_terms(pg: object, corpus: dict[int, str]) -> None:
    rowid, text = list(corpus.items())[40]
    hits = pg_lexical.search(pg, "lexdocs", text, 10)
    assert hits[0].rowid == str(rowid)  # the gloss itself ranks first
    assert hits[0].score > hits[-1].score >= 0
    for q in queries(corpus):
        hits = pg_lexical.search(pg, "lexdocs", q, 20)
        assert all(h.terms for h in hits), q
        for h in hits:  # every reported term is in the row, after stemming (a word sharing its start)
            words = set(tokens(corpus[int(h.rowid)]))
            assert all(any(w[:3] == t[:3] for w in words) for t in h.terms), (q, h)
        # the rows holding a query word are all there (k large enough)
        rare = [t for t in tokens(q) if len(t) > 5][:1]
        if rare:
            holders = {str(r) for r, t in corpus.items() if rare[0] in tokens(t)}
            found = {h.rowid for h in pg_lexical.search(pg, "lexdocs", rare[0], 1000)}
            assert holders <= found, rare


def test_pg_filter_before_ranking_and_hostile_text(pg: object, corpus: dict[int, str]) -> None:
    q = "genus of plants or family of animals"
    filtered = pg_lexical.search(pg, "lexdocs", q, 10, where_sql="(fields->>'n')::int = %s", where_params=(2,))
    assert len(filtered) == 10
    assert all(int(h.rowid) % 5 == 2 for h in filtered)
    unfiltered = pg_lexical.search(pg, "lexdocs", q, 1000)
    assert [h.rowid for h in filtered] == [h.rowid for h in unfiltered if int(h.rowid) % 5 == 2][:10]
    for query in HOSTILE:
        hits = pg_lexical.search(pg, "lexdocs", query, 5)
        if not query_terms(query):
            assert hits == []
    assert pg_lexical.search(pg, "lexdocs", "the of and", 5) == []  # stop words only
    with pytest.raises(JointspaceError, match="configuration"):
        pg_lexical.search(pg, "lexdocs", "dog", 5, config="english'; --")
