"""Malformed inputs, written as real files: each bad row is one error naming the file and the line, every
other row is kept, and the count of what was skipped is exact; a damaged file as a whole is one clear error."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from jointspace import JointspaceError, read_records
from jointspace.readers.files import walk_folder

UNTERMINATED = "unterminated quote"


def _rows(n: int, sep: str = ",") -> list[str]:
    return [sep.join([str(i), f"text number {i}", str(2000 + i)]) for i in range(1, n + 1)]


def _write(path: Path, header: str, rows: list[str], ending: str = "\n") -> Path:
    path.write_bytes((ending.join([header, *rows]) + ending).encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize("sep,suffix", [(",", "csv"), ("\t", "tsv")])
@pytest.mark.parametrize("position", [0, 3, 7], ids=["first", "middle", "last"])
@pytest.mark.parametrize("later_quotes", [False, True], ids=["no-later-quote", "later-quoted-field"])
def test_an_unterminated_quote_skips_one_row_anywhere(tmp_path: Path, sep: str, suffix: str, position: int,
                                                      later_quotes: bool) -> None:
    rows = _rows(8, sep)
    if later_quotes:  # a well-formed quoted field after the broken one (the quote parser meets it first)
        rows = [r if i != 6 else sep.join(["7", '"quoted, fine"', "2007"]) for i, r in enumerate(rows)]
    rows[position] = sep.join([str(position + 1), '"an open quote that never closes', str(2001 + position)])
    path = _write(tmp_path / f"data.{suffix}", sep.join(["id", "text", "year"]), rows)
    source = read_records(path)
    records = list(source)
    expected = [i for i in range(1, 9) if i != position + 1]
    assert [r["id"] for r in records] == expected
    assert len(records) + len(source.skipped) == 8  # nothing dropped silently
    [skipped] = source.skipped
    assert skipped.where == f"{path} line {position + 2}" and UNTERMINATED in skipped.reason
    assert all(isinstance(r["year"], int) for r in records)
    if later_quotes and position != 7:
        assert next(r for r in records if r["id"] == 7)["text"] == "quoted, fine"


def test_an_unterminated_quote_in_the_header_is_a_file_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.csv", 'id,"text', _rows(3))
    with pytest.raises(JointspaceError, match=rf"h\.csv line 1: the header cannot be read: {UNTERMINATED}"):
        list(read_records(path))


def test_skipped_counts_are_exact_over_chunks(tmp_path: Path) -> None:
    """600 rows, 40 broken ones of five kinds at seeded places, read 50 rows per chunk."""
    rng = random.Random(7)
    rows = _rows(600)
    broken = sorted(rng.sample(range(600), 40))
    kinds = ['{i},"open quote,{y}', '{i},"closed"then more,{y}', "{i},a,b,c,d", '{i},"x" ,{y}', "{i},caf\udce9,{y}"]
    for n, i in enumerate(broken):
        rows[i] = kinds[n % len(kinds)].format(i=i + 1, y=2001 + i)
    path = _write(tmp_path / "many.csv", "id,text,year", rows)
    source = read_records(path)
    source.chunk_size = 50
    records = list(source)
    assert [r["id"] for r in records] == [i + 1 for i in range(600) if i not in broken]
    assert [s.where for s in source.skipped] == [f"{path} line {i + 2}" for i in broken]
    reasons = {s.reason.split(":")[0].split(" (")[0] for s in source.skipped}
    assert reasons == {UNTERMINATED, "malformed quoted field", "5 fields where the header has 3",
                       "not valid UTF-8 text"}


def test_quoted_line_breaks_are_kept_and_listed(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('id,text\n1,"first line\nsecond, line"\n2,"stray\n3,closes later"\n4,ok\n')
    source = read_records(path)
    records = list(source)
    assert [r["id"] for r in records] == [1, 2, 4] and records[0]["text"] == "first line\nsecond, line"
    assert source.multiline == [f"{path} lines 2-3", f"{path} lines 4-5"]  # legal CSV, but never silent


def test_field_counts_blank_lines_and_trailing_delimiters(tmp_path: Path) -> None:
    path = tmp_path / "fields.csv"
    path.write_text("id,text,year,\n1,one,2001,\n\n2,two\n3,three,2003,,x\n4,four,2004\n")
    source = read_records(path)
    records = list(source)
    assert [r["id"] for r in records] == [1, 2, 4]
    assert records[1] == {"id": 2, "text": "two", "year": None}
    [skipped] = source.skipped
    assert skipped.where == f"{path} line 5" and "5 fields where the header has 3" in skipped.reason


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", "mixed"])
def test_bom_and_line_endings(tmp_path: Path, ending: str) -> None:
    endings = ["\r\n", "\n", "\r"] if ending == "mixed" else [ending]
    lines = ["id,text,year", *_rows(6)]
    text = "".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    (tmp_path / "r.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    records = list(read_records(tmp_path / "r.csv"))
    assert [r["id"] for r in records] == list(range(1, 7)) and set(records[0]) == {"id", "text", "year"}
    assert records[5] == {"id": 6, "text": "text number 6", "year": 2006}
    jsonl = "".join(json.dumps({"id": i}) + endings[i % len(endings)] for i in range(5))
    (tmp_path / "r.jsonl").write_bytes(b"\xef\xbb\xbf" + jsonl.encode())
    source = read_records(tmp_path / "r.jsonl")
    assert [r["id"] for r in source] == list(range(5)) and not source.skipped


def test_jsonl_bad_lines_are_each_named(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    lines = [b'{"id": 1}', b"{broken", b'{"id": 3, "x": NaN}', b"[" * 100_000 + b"]" * 100_000,
             b'{"id": 5, "text": "caf\xe9"}', b"[1, 2]", b"", b'"just a string"', b'{"id": 9}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    source = read_records(path)
    records = list(source)
    assert [r["id"] for r in records] == [1, 3, 9]  # NaN is read (the collection stores it as null, and says so)
    assert records[1]["x"] != records[1]["x"]
    got = {s.where.rsplit(" ", 1)[1]: s.reason for s in source.skipped}
    assert list(got) == ["2", "4", "5", "6", "8"]
    assert "malformed JSON" in got["2"] and "nested too deeply" in got["4"]
    assert "not valid UTF-8" in got["5"] and "a JSON list" in got["6"] and "a JSON str" in got["8"]


def test_a_csv_row_that_is_not_utf8_is_skipped_not_garbled(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,text\n1,plain\n2,caf\xe9\n3,fine\n")
    source = read_records(path)
    assert [r["id"] for r in source] == [1, 3]
    assert [str(s) for s in source.skipped] == [f"{path} line 3: not valid UTF-8 text (re-save the file as UTF-8)"]


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", b"", "empty file"),
    ("empty.jsonl", b"", "empty file"),
    ("blank.jsonl", b"\n  \n\n", "no records"),
    ("blank.csv", b"\n\n", "no header and no records"),
    ("header.csv", b"id,text\n", r"a header \(id, text\) and no records"),
    ("twice.csv", b"id,text,text\n1,a,b\n", "names 'text' more than once"),
    ("items.csv", "sqlite", "a SQLite database, not CSV text"),
    ("book.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "an Excel .xlsx workbook is one"),
    ("unicode.csv", "id,text\n1,caf\u00e9\n".encode("utf-16"), "UTF-16 text; re-save it as UTF-8"),
    ("rows.jsonl", b"\x1f\x8b\x08\x00" + bytes(100), "a gzip-compressed file"),
    ("nul.tsv", bytes(400) + b"id\ttext\n", "not a UTF-8 text file"),
    ("damaged.parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
])
def test_a_damaged_file_is_one_clear_error(tmp_path: Path, name: str, content: bytes | str, message: str) -> None:
    path = tmp_path / name
    if content == "sqlite":  # a real binary file (a SQLite database) given a .csv name
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE items (id TEXT PRIMARY KEY, text TEXT)")
        db.close()
    else:
        path.write_bytes(content)
    with pytest.raises(JointspaceError, match=message) as caught:
        list(read_records(path))
    assert str(path) in str(caught.value)


def test_a_truncated_parquet_file_is_one_clear_error(tmp_path: Path) -> None:
    pd.DataFrame({"id": range(1000), "text": ["x" * 50] * 1000}).to_parquet(tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(JointspaceError, match="cut.parquet"):
        list(read_records(tmp_path / "cut.parquet"))


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".cache").mkdir()
    (root / "a.txt").write_text("a plain note")
    (root / "sub" / "b.txt").write_text("another note")
    (root / "sub" / "deeper" / "c.txt").write_text("a third")
    (root / ".cache" / "x.txt").write_text("hidden")
    os.symlink("..", root / "sub" / "deeper" / "up")  # a loop back to sub
    os.symlink(root, root / "sub" / "top")  # a loop back to the root, absolute
    os.symlink("missing.txt", root / "broken.txt")
    os.symlink("self", root / "self")  # a link to itself
    os.symlink("sub", root / "sub-again")  # a second way into a folder already walked
    os.symlink("a.txt", root / "alias.txt")  # a link to a file: a file
    os.mkfifo(root / "pipe.txt")  # opening it would block the reader for ever
    return root


def test_a_folder_walk_reports_what_it_leaves_out(messy_folder: Path) -> None:
    walk = walk_folder(messy_folder)
    assert [rel for rel, _ in walk.files] == ["a.txt", "alias.txt", "sub/b.txt", "sub/deeper/c.txt"]
    skipped = {s.where: s.reason for s in walk.skipped}
    assert skipped == {
        ".cache": "hidden (name starts with '.'), not indexed",
        "broken.txt": "broken symbolic link (to missing.txt, which does not exist)",
        "pipe.txt": "a named pipe, not a regular file",
        "self": "symbolic link loop",
        "sub-again": "a link to a folder already walked (sub)",
        "sub/deeper/up": "symbolic link loop (back to sub)",
        "sub/top": "symbolic link loop (back to .)",
    }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its mode")
def test_unreadable_files_and_folders_are_reported(messy_folder: Path) -> None:
    (messy_folder / "a.txt").chmod(0)
    (messy_folder / "sub" / "deeper").chmod(0)
    try:
        skipped = {s.where: s.reason for s in walk_folder(messy_folder).skipped}
    finally:
        (messy_folder / "a.txt").chmod(0o644)
        (messy_folder / "sub" / "deeper").chmod(0o755)
    assert "permission denied" in skipped["a.txt"].lower() and "cannot list" in skipped["sub/deeper"]


def test_cli_index_reports_the_broken_row_and_the_folder_walk(tmp_path: Path, messy_folder: Path) -> None:
    from jointspace.cli import app

    rows = _rows(6)
    rows[2] = '3,"this quote never closes,2003'
    data = _write(tmp_path / "notes.csv", "id,text,year", rows)
    result = CliRunner().invoke(app, ["index", str(data), "--out", str(tmp_path / "col"), "--encoder", "tfidf",
                                      "--text", "text"], env={"COLUMNS": "300"})
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "5 added" in said and "1 skipped" in said and f"{data} line 4: {UNTERMINATED}" in said
    from jointspace.cli.media_commands import folder_records

    records, left_out = folder_records(messy_folder)  # what `jointspace index FOLDER` indexes and reports
    assert [r["id"] for r in records] == ["a.txt", "alias.txt", "sub/b.txt", "sub/deeper/c.txt"]
    assert len(left_out) == 7 and all(s.reason for s in left_out)


def test_a_media_file_that_is_not_a_file_says_what_it_is(messy_folder: Path) -> None:
    from jointspace.errors import ItemError
    from jointspace.readers.detect import detect_modality

    for name, reason in [("pipe.txt", "a named pipe, not a regular file"), ("sub", "a folder, not a file"),
                         ("broken.txt", "broken symbolic link (to missing.txt)"), ("self", "symbolic link loop"),
                         ("nothing.txt", "no such file")]:
        with pytest.raises(ItemError, match=re.escape(reason)):
            detect_modality(messy_folder / name)
    assert detect_modality(messy_folder / "alias.txt") == "text"


def test_a_json_file_holding_one_array(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"id": 1, "text": "one"}, 7, {"id": 3, "text": "three"}], indent=2))
    source = read_records(path)
    assert [r["id"] for r in source] == [1, 3]
    assert [str(s) for s in source.skipped] == [f"{path} item 1: not a JSON object (a JSON int)"]
    path.write_text('[\n  {"id": 1},\n  {"id": 2,,}\n]')
    with pytest.raises(JointspaceError, match=r"items\.json line 3: malformed JSON"):
        list(read_records(path))


def test_many_unterminated_quotes_in_a_long_file_stay_cheap_and_exact(tmp_path: Path) -> None:
    """30 open quotes over 3,000 rows: each costs at most MAX_RECORD_LINES lines of look-ahead."""
    import time

    from jointspace.readers.records import MAX_RECORD_LINES

    rows = _rows(3000)
    broken = list(range(5, 3000, 100))
    for i in broken:
        rows[i] = f'{i + 1},"an open quote,{2001 + i}'
    rows[-1] = '3000,"a last open quote that runs over the look-ahead,4999'
    rows += [f"{3001 + i},filler,{2001}" for i in range(MAX_RECORD_LINES + 50)]
    path = _write(tmp_path / "long.csv", "id,text,year", rows)
    started = time.perf_counter()
    source = read_records(path)
    records = list(source)
    assert len(records) == len(rows) - len(broken) - 1 and [s.where for s in source.skipped] == [
        *(f"{path} line {i + 2}" for i in broken), f"{path} line 3001"]
    assert f"over {MAX_RECORD_LINES:,} lines" in source.skipped[-1].reason
    assert all(s.reason.startswith(UNTERMINATED) for s in source.skipped)
    assert time.perf_counter() - started < 30  # quadratic look-ahead would be 100 times slower
