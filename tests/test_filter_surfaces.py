"""Filters and field values through every surface: each failure the filters issue lists, as a user meets it.

A filter is read the same way by Python, the CLI and HTTP, and an input that cannot mean anything is an
error naming the position or the field, never an empty result or a traceback. NaN, infinities and numpy or
pandas scalars never break a collection; ids are strings or integers.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from server_support import ThreadedServer
from typer.testing import CliRunner

from jointspace import Collection
from jointspace.cli import app
from jointspace.server import create_app
from jointspace.stores.filters import FilterError

runner = CliRunner()
MOVIES = [{"id": f"m{i}", "text": f"a film number {i} about {['love', 'war', 'sea'][i % 3]}",
           "year": 1940 + 4 * i, "genre": ["drama", "comedy", "western"][i % 3]} for i in range(20)]


@pytest.fixture()
def movies(tmp_path: Path) -> Path:
    data = tmp_path / "movies.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in MOVIES))
    out = tmp_path / "col"
    res = runner.invoke(app, ["index", str(data), "--out", str(out), "--encoder", "tfidf"])
    assert res.exit_code == 0, res.output
    return out


def cli_json(*args: str) -> list[dict]:
    res = runner.invoke(app, ["search", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


def test_or_is_or_and_errors_say_where(movies: Path) -> None:
    hits = cli_json(str(movies), "film", "-k", "20", "--where", "year >= 2000 or genre = drama")
    expected = {r["id"] for r in MOVIES if r["year"] >= 2000 or r["genre"] == "drama"}
    assert {h["id"] for h in hits} == expected and len(expected) > len([r for r in MOVIES if r["year"] >= 2000])
    for where, says in [("year >= 2000 and", "expected"), ("yeer >= 2000", "did you mean 'year'"),
                        ("director = x", "no item has the field"), ('genre in ("n)', "never closed"),
                        ("year >= '2000'", "number")]:
        res = runner.invoke(app, ["search", str(movies), "film", "--where", where])
        assert res.exit_code == 1 and says in res.output and "Traceback" not in res.output, (where, res.output)
    with ThreadedServer(create_app(str(movies))) as server:
        bad = httpx.get(f"{server.url}/search", params={"q": "film", "where": 'genre in ("n)'})
        assert bad.status_code == 400 and "never closed" in bad.json()["error"]
        good = httpx.get(f"{server.url}/search", params={"q": "film", "k": 20,
                                                         "where": "year >= 2000 or genre = drama"})
        assert {h["id"] for h in good.json()["hits"]} == expected


def test_nan_and_infinity_never_break_a_collection(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    rows = [{"id": "a", "text": "a calm sea", "rating": 4.5}, {"id": "b", "text": "a stormy sea", "rating": math.nan},
            {"id": "c", "text": "a quiet lake", "rating": math.inf}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))  # Python writes NaN / Infinity tokens
    res = runner.invoke(app, ["index", str(data), "--out", str(tmp_path / "c"), "--encoder", "tfidf"])
    assert res.exit_code == 0, res.output
    hits = cli_json(str(tmp_path / "c"), "sea", "--where", "rating >= 1")
    assert [h["id"] for h in hits] == ["a"]
    assert {h["id"] for h in cli_json(str(tmp_path / "c"), "sea", "--where", "rating is null")} == {"b", "c"}
    # from a DataFrame: NaN becomes null and the write report says so, numpy ints stay numbers
    frame = pd.DataFrame({"id": ["x", "y", "z"], "text": ["red apple", "green pear", "ripe banana"],
                          "n": np.array([5, 150, 7], dtype=np.int64), "w": [1.0, np.nan, 2.0]})
    col = Collection.create(tmp_path / "df", encoder="tfidf")
    report = col.add(frame)
    assert report.added == 3 and [n.where for n in report.notes] == ["id 'y'"]
    assert "stored as null" in report.notes[0].reason
    assert col.get("x")["n"] == 5 and isinstance(col.get("x")["n"], int) and col.get("y")["w"] is None
    assert [h.id for h in col.search("apple", k=3, where={"n": 5})] == ["x"]
    assert {h.id for h in col.search("apple", k=3, where="n >= 100")} == {"y"}
    col.close()


def test_a_collection_holding_nan_from_an_older_version_keeps_working(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "old", encoder="tfidf")
    col.add([{"id": "a", "text": "a calm sea", "rating": 4.5}, {"id": "b", "text": "a stormy sea", "rating": 2.0}])
    col.close()
    with sqlite3.connect(tmp_path / "old" / "items.sqlite") as db:  # what main wrote for a NaN
        db.execute("""UPDATE items SET fields = '{"text": "a stormy sea", "rating": NaN}' WHERE id = 'b'""")
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    again = Collection.open(tmp_path / "old")
    assert [h.id for h in again.search("sea", k=5, where="rating > 1")] == ["a"]
    assert again.get("b")["rating"] is None
    again.close()
    hits = cli_json(str(tmp_path / "old"), "sea", "--where", "rating is null")
    assert [h["id"] for h in hits] == ["b"] and hits[0]["fields"]["rating"] is None


def test_ids_are_strings_or_integers(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "ids", encoder="tfidf")
    bad = [True, [1, 2], {}, 1e400, 2.5, None]
    report = col.add([{"id": v, "text": f"cats and dogs {i}"} for i, v in enumerate(bad)]
                     + [{"id": 1, "text": "cats"}, {"id": "1", "text": "dogs"}, {"id": np.int64(7), "text": "fish"}])
    assert report.added == 2 and len(col) == 2
    reasons = " | ".join(s.reason for s in report.skipped)
    for word in ("boolean", "list", "dict", "float", "missing id"):
        assert word in reasons, word
    assert any("duplicate id" in s.reason for s in report.skipped)  # 1 and "1" are one id, said so
    assert col.get(1)["text"] == "dogs" and col.get("7")["text"] == "fish"
    with pytest.raises(Exception, match="string or an integer"):
        col.get(2.5)
    assert col.delete("q443").skipped[0].where == "id 'q443'"  # one id, never its characters
    col.close()


def test_filters_on_an_empty_collection_and_nested_fields(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "e", encoder="tfidf")
    assert col.search("x", k=3, where="anything = 1") == []  # nothing to compare with yet
    col.add([{"id": "a", "text": "jazz night", "tags": ["jazz", "live"], "meta": {"lang": "en"}},
             {"id": "b", "text": "rock night", "tags": ["rock"], "meta": {"lang": "fr"}}])
    assert [h.id for h in col.search("night", k=3, where="tags contains jazz")] == ["a"]
    assert [h.id for h in col.search("night", k=3, where="meta.lang = fr")] == ["b"]
    with pytest.raises(FilterError, match="meta.lang"):
        col.search("night", k=3, where="meta.lnag = fr")
    col.close()
