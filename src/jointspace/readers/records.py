"""Records from JSONL, CSV or Parquet, streamed; malformed rows are skipped and reported, not fatal.

Every row that cannot be read becomes one ``Skipped`` naming the file and the line, and every other row
is kept: a CSV row with an unterminated quote (first, middle or last row) is reported at the line where
the quote opens and reading resumes on the next line, so ``records + skipped`` accounts for every row.
CSV is tokenised here with Python's ``csv`` module in strict mode (it says where a row breaks), and the
clean rows are then typed by pandas as before (numbers, missing values). A damaged file as a whole (empty,
binary, a broken header, only a header) is a ``JointspaceError`` naming it. Text is UTF-8 (a BOM is
allowed); a line that is not UTF-8 is skipped and reported, never decoded into replacement characters.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jointspace.errors import JointspaceError
from jointspace.results import Skipped

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet", ".pq": "parquet"}
MAX_RECORD_LINES = 1000  # a quoted CSV field may hold line breaks, but not run over more lines than this
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, as decoded by "surrogateescape"
_UTF8_HINT = "not valid UTF-8 text (re-save the file as UTF-8)"
log = logging.getLogger("jointspace.readers")
BINARY_FORMATS = [  # (first bytes, what the file is) for files often given a text name by mistake
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one: export it as CSV)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel (.xls) or Office file (export it as CSV)"),
    (b"SQLite format 3\x00", "a SQLite database"), (b"PAR1", "a Parquet file (name it .parquet)"),
    (b"\x1f\x8b", "a gzip-compressed file (decompress it first)"), (b"%PDF", "a PDF document"),
]


def _clean(value: Any) -> Any:
    """Missing values (NaN, None, pandas NA) become None; numpy scalars become Python ones."""
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


class _RecordTooLong(Exception):
    """A quoted field ran over ``MAX_RECORD_LINES`` lines (almost always an unterminated quote)."""


class _Lines:
    """Physical lines of a text file for ``csv.reader``, with the lines of the current record kept so a
    broken record can be given back (all but its first line) and read again as rows of their own."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.pending: deque[str] = deque()
        self.taken: list[str] = []
        self.consumed = 0  # physical lines handed out so far

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_RECORD_LINES:
            raise _RecordTooLong
        line = self.pending.popleft() if self.pending else next(self.fh)
        self.taken.append(line)
        self.consumed += 1
        return line

    def start_record(self) -> int:
        """Forget the last record's lines; the line number the next record starts on."""
        self.taken = []
        return self.consumed + 1

    def give_back(self) -> None:
        """The current record's lines after its first are read again."""
        rest = self.taken[1:]
        self.pending.extendleft(reversed(rest))
        self.consumed -= len(rest)
        self.taken = self.taken[:1]


def _csv_reason(exc: BaseException, sep: str) -> str:
    if isinstance(exc, _RecordTooLong):
        return (f"unterminated quote: the quoted field that opens on this line runs over {MAX_RECORD_LINES:,} "
                "lines without closing")
    message = str(exc)
    delimiter = "a tab" if sep == "\t" else repr(sep)
    if "unexpected end of data" in message:
        return "unterminated quote: the quoted field that opens on this line never closes"
    if "expected after" in message:
        return (f"malformed quoted field: a closing quote must be followed by {delimiter} or the end of the line "
                '(write a quote inside a quoted field as "")')
    if "field larger than field limit" in message:
        return f"a field over {csv.field_size_limit():,} characters (an unterminated quote?)"
    if "NUL" in message:
        return "a NUL byte in the row (binary data?)"
    return f"malformed row ({message})"


@dataclass
class RecordSource:
    """An iterable of records (dicts) from a file; ``skipped`` lists the rows that could not be read.

    ``multiline`` names the CSV records whose quoted fields hold line breaks ("FILE lines 4-6"): legal
    CSV, but also what a stray quote that happens to close on a later line looks like, so they are
    listed (and the first few logged) rather than taken in silence.
    """

    path: Path
    format: str
    chunk_size: int = 10_000
    skipped: list[Skipped] = field(default_factory=list)
    multiline: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.skipped, self.multiline = [], []
        if self.format == "jsonl":
            yield from self._jsonl()
        elif self.format in ("csv", "tsv"):
            yield from self._table(sep="," if self.format == "csv" else "\t")
        else:
            yield from self._parquet()

    def _where(self, line_no: int) -> str:
        return f"{self.path} line {line_no}"

    def _skip(self, line_no: int, reason: str) -> None:
        self.skipped.append(Skipped(self._where(line_no), reason))

    def _jsonl(self) -> Iterator[dict[str, Any]]:
        # NaN / Infinity tokens (Python's json writes them) are read as floats: the collection stores them as
        # null and its write report names each one, so the rest of the record is kept
        self._check_text()
        seen = 0
        with open(self.path, encoding="utf-8-sig", errors="surrogateescape") as fh:
            head = fh.read(4096).lstrip()
            fh.seek(0)
            if head.startswith("[") and self.path.suffix.lower() == ".json":
                yield from self._json_array(fh.read())
                return
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                seen += 1
                if _NOT_UTF8.search(line):
                    self._skip(line_no, _UTF8_HINT)
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    self._skip(line_no, f"malformed JSON ({exc.msg} at column {exc.colno})")
                    continue
                except ValueError as exc:
                    self._skip(line_no, f"malformed JSON ({exc})")
                    continue
                except RecursionError:
                    self._skip(line_no, "malformed JSON (nested too deeply)")
                    continue
                if not isinstance(record, dict):
                    self._skip(line_no, f"not a JSON object (a JSON {type(record).__name__})")
                    continue
                yield record
        if not seen:
            raise JointspaceError(f"{self.path}: no records (the file holds only blank lines)")

    def _json_array(self, text: str) -> Iterator[dict[str, Any]]:
        """A .json file holding one array of objects (not JSON Lines): each item that is not an object is skipped."""
        bad = _NOT_UTF8.search(text)
        if bad:
            raise JointspaceError(f"{self._where(text[:bad.start()].count(chr(10)) + 1)}: {_UTF8_HINT}")
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JointspaceError(f"{self._where(exc.lineno)}: malformed JSON ({exc.msg} at column {exc.colno})"
                                  ) from None
        except RecursionError:
            raise JointspaceError(f"{self.path}: malformed JSON (nested too deeply)") from None
        if not items:
            raise JointspaceError(f"{self.path}: an empty JSON array, no records")
        for n, item in enumerate(items):
            if isinstance(item, dict):
                yield item
            else:
                self.skipped.append(Skipped(f"{self.path} item {n}",
                                            f"not a JSON object (a JSON {type(item).__name__})"))

    def _check_text(self) -> None:
        """A file error for what is plainly not UTF-8 text: a known binary format, UTF-16, or NUL bytes."""
        with open(self.path, "rb") as raw:
            head = raw.read(8192)
        kind = self.format.upper()
        for magic, what in BINARY_FORMATS:
            if head.startswith(magic):
                raise JointspaceError(f"{self.path}: {what}, not {kind} text")
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise JointspaceError(f"{self.path}: UTF-16 text; re-save it as UTF-8")
        if head.count(0) * 16 > len(head):  # binary (a stray NUL byte is one bad row instead)
            raise JointspaceError(f"{self.path}: not a UTF-8 text file (NUL bytes); is it really {kind}?")

    def _table(self, sep: str) -> Iterator[dict[str, Any]]:
        self._check_text()
        with open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            lines = _Lines(fh)
            header = self._header(lines, sep)
            rows: list[list[str]] = []
            seen = 0
            for row in self._rows(lines, sep, len(header)):
                seen += 1
                rows.append(row)
                if len(rows) >= self.chunk_size:
                    yield from _typed(header, rows)
                    rows = []
            if rows:
                yield from _typed(header, rows)
        if not seen and not self.skipped:
            raise JointspaceError(f"{self.path}: a header ({', '.join(header)}) and no records")

    def _read(self, lines: _Lines, reader: Any, sep: str) -> tuple[int, list[str] | None, str | None]:
        """(first line, row or None, reason if broken) of the next record; raises StopIteration at the end."""
        start = lines.start_record()
        try:
            row = next(reader)
        except (csv.Error, _RecordTooLong) as exc:
            reason = _csv_reason(exc, sep)
            if len(lines.taken) > 1 and reason.startswith("malformed quoted field"):
                reason = (f"unterminated quote: the quoted field that opens on this line runs on to line "
                          f"{start + len(lines.taken) - 1}, where it breaks")
            return start, None, reason
        if any(_NOT_UTF8.search(line) for line in lines.taken):
            return start, None, _UTF8_HINT
        return start, row, None

    def _header(self, lines: _Lines, sep: str) -> list[str]:
        reader = csv.reader(lines, delimiter=sep, strict=True)
        while True:
            try:
                start, row, reason = self._read(lines, reader, sep)
            except StopIteration:
                raise JointspaceError(f"{self.path}: empty file (no header and no records)") from None
            if reason is not None:
                raise JointspaceError(f"{self._where(start)}: the header cannot be read: {reason}")
            if row and any(cell.strip() for cell in row):
                break
        header = [cell.strip() for cell in row]
        while len(header) > 1 and not header[-1]:
            header.pop()  # a trailing delimiter
        doubled = sorted({name for name in header if header.count(name) > 1})
        if doubled:
            raise JointspaceError(f"{self._where(start)}: the header names "
                                  f"{', '.join(repr(d) for d in doubled)} more than once")
        return header

    def _rows(self, lines: _Lines, sep: str, width: int) -> Iterator[list[str]]:
        reader = csv.reader(lines, delimiter=sep, strict=True)
        while True:
            try:
                start, row, reason = self._read(lines, reader, sep)
            except StopIteration:
                return
            if reason is not None:
                if row is None and reason != _UTF8_HINT:
                    lines.give_back()  # the lines a broken quote swallowed are rows of their own
                    reader = csv.reader(lines, delimiter=sep, strict=True)
                self._skip(start, reason)
                continue
            assert row is not None
            if not row or not any(cell.strip() for cell in row):
                continue  # a blank line
            if len(lines.taken) > 1:
                where = f"{self.path} lines {start}-{start + len(lines.taken) - 1}"
                self.multiline.append(where)
                if len(self.multiline) <= 3:
                    log.warning("%s: one record (a quoted field holds line breaks)", where)
            if len(row) > width:
                if any(cell.strip() for cell in row[width:]):
                    self._skip(start, f"{len(row)} fields where the header has {width} (wrong number of fields)")
                    continue
                row = row[:width]  # trailing delimiters
            yield row + [""] * (width - len(row))

    def _parquet(self) -> Iterator[dict[str, Any]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise JointspaceError(f"{self.path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        try:
            for batch in file.iter_batches(batch_size=self.chunk_size):
                for row in batch.to_pylist():
                    yield {k: _clean(v) for k, v in row.items()}
        except (pa.ArrowException, OSError) as exc:
            raise JointspaceError(f"{self.path}: damaged Parquet data ({str(exc).splitlines()[0]})") from None


def _typed(header: list[str], rows: list[list[str]]) -> Iterator[dict[str, Any]]:
    """Clean rows typed as pandas types a CSV (numbers, missing values), column by column."""
    import pandas as pd

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    buffer.seek(0)
    frame = pd.read_csv(buffer, index_col=False)
    for row in frame.to_dict(orient="records"):
        yield {k: _clean(v) for k, v in row.items()}


def read_records(path: str | Path, format: str | None = None) -> RecordSource:
    """Stream records from JSONL, CSV/TSV or Parquet (format from the extension unless given)."""
    path = Path(path)
    if not path.exists():
        raise JointspaceError(f"{path}: no such file")
    if path.is_dir():
        raise JointspaceError(f"{path}: a folder, not a records file")
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise JointspaceError(f"{path}: unknown record format; use .jsonl, .csv, .tsv or .parquet")
    if path.stat().st_size == 0:
        raise JointspaceError(f"{path}: empty file (0 bytes)")
    return RecordSource(path, fmt)
