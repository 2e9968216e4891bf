"""pandas and Parquet in and out: records from a DataFrame, results as a DataFrame, tables to disk.

Three pure pieces the collections, the results and the CLI build on:

- ``records_from(data)``: plain ``dict`` records from a DataFrame or any iterable of mappings. Missing
  values (``None``, ``NaN``, ``pd.NA``, ``NaT``) become ``None``; numpy and pandas scalars become Python
  values; timestamps, datetimes, dates and times become ISO 8601 strings (timedeltas ISO 8601
  durations); arrays and lists become lists, recursively. Infinities stay floats (a write reports
  them). A named DataFrame index (``df.set_index("id")``) is kept as a field. A record that is not a
  mapping is an ``ItemError`` naming its position; field names that repeat are an error too.
- ``hits_frame(hits)``: a DataFrame of search results, columns ``id``, ``score`` and one per field
  (a field called ``id`` or ``score`` becomes ``field.id`` / ``field.score``).
- ``write_table(records, path)``: ``.parquet`` (or ``.pq``) or ``.jsonl`` (or ``.ndjson``) by suffix,
  streamed: memory holds one batch, never the data. A Parquet file has one type per column, which is
  known only once every record has been seen, so records are first spooled batch by batch to a
  temporary file beside the target while each field's types are tallied; the Parquet file is then
  written batch by batch (one row group each) from the spool. A field holding two kinds of value
  (text in one record, a number in another) cannot be one Parquet column: that is an error naming the
  field and a record of each kind (JSONL takes it). JSONL must be valid JSON, so an infinity there is
  an error naming the record (Parquet holds it). The target appears only when complete (written under
  a temporary name, then renamed), and a failed write leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import pickle
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jointspace.errors import ItemError, JointspaceError

PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
BATCH = 4096  # records per pandas chunk and per Parquet row group
_SAMPLES = 64  # values kept per list/struct field to infer its Arrow type


# -- values -------------------------------------------------------------------------------------------
def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA and NaT (of pandas or numpy)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def plain_value(value: Any) -> Any:
    """A field value as plain Python (see the module docstring); missing values are None."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # the common case first: one type test
        return value
    if kind is float:
        return None if value != value else value
    if is_missing(value):
        return None
    if isinstance(value, float):  # np.float64 and other float subclasses
        return float(value)
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return pd.Timestamp(value).isoformat()
        if isinstance(value, np.timedelta64):
            return pd.Timedelta(value).isoformat()
        if isinstance(value, np.bytes_):
            return bytes(value)
        return plain_value(value.item())
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):  # a str subclass (np.str_ is handled above)
        return str(value)
    if isinstance(value, int):  # an int subclass, e.g. an IntEnum
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple | pd.Series | pd.Index):
        return [plain_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return [plain_value(v) for v in sorted(value, key=repr)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value  # bytes and other objects: left for the writer to accept or name


# -- records in ---------------------------------------------------------------------------------------
def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _check_names(names: list[str], what: str) -> None:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise JointspaceError(f"{what} has repeated field name(s) {', '.join(map(repr, repeated))}")


def _frame_records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    named = [name for name in frame.index.names if name is not None and name not in frame.columns]
    if named:  # df.set_index("id"): the index is data
        frame = frame.reset_index(level=named)
    names = [str(c) for c in frame.columns]
    _check_names(names, "the DataFrame")
    for start in range(0, len(frame), BATCH):
        chunk = frame.iloc[start:start + BATCH]
        if not names:
            yield from ({} for _ in range(len(chunk)))
            continue
        columns = [chunk.iloc[:, j].tolist() for j in range(len(names))]  # Python scalars, chunk by chunk
        for row in zip(*columns, strict=True):
            yield {name: plain_value(value) for name, value in zip(names, row, strict=True)}


def records_from(data: Any) -> Iterator[dict[str, Any]]:
    """Plain dict records from a DataFrame or any iterable of mappings (rows as dicts), lazily.

    A DataFrame is read a chunk at a time; an iterable is read once, so a generator works.
    """
    if isinstance(data, pd.DataFrame):
        return _frame_records(data)
    if isinstance(data, str | bytes | os.PathLike):
        raise JointspaceError(f"expected a DataFrame or an iterable of records, got {_describe(data)}; "
                              "to read a file, use jointspace.readers.read_records")
    if isinstance(data, Mapping):
        raise JointspaceError("expected an iterable of records, got one mapping; pass a list of records "
                              "(or a DataFrame)")
    if isinstance(data, pd.Series):
        raise JointspaceError("expected a DataFrame or an iterable of records, got a Series "
                              "(one column); use series.to_frame() or a DataFrame")
    try:
        iterator = iter(data)
    except TypeError:
        raise JointspaceError(f"expected a DataFrame or an iterable of records, got {_describe(data)}") from None
    return _mapping_records(iterator)


def _mapping_records(records: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for i, record in enumerate(records):
        if isinstance(record, pd.Series):
            record = record.to_dict()
        if not isinstance(record, Mapping):
            raise ItemError(f"record {i}", f"expected a mapping of field -> value (a dict), got {_describe(record)}",
                            position=i)
        out = {str(k): plain_value(v) for k, v in record.items()}
        if len(out) != len(record):
            raise ItemError(f"record {i}", "two of its field names are the same once written as text "
                                           f"({', '.join(map(repr, record))})", position=i)
        yield out


# -- results out ----------------------------------------------------------------------------------------
def hits_frame(hits: Iterable[Any]) -> pd.DataFrame:
    """Search results (objects with ``.id``, ``.score``, ``.fields``) as a DataFrame, best first as given.

    Columns: ``id``, ``score``, then one per field in the order the fields first appear; a hit without
    a field has a missing value there (NaN in a numeric column, None otherwise).
    """
    rows, names = [], {}
    for hit in hits:
        fields = getattr(hit, "fields", None) or {}
        row = {"id": hit.id, "score": float(hit.score)}
        for key, value in fields.items():
            column = f"field.{key}" if key in ("id", "score") else str(key)
            names.setdefault(column, None)
            row[column] = plain_value(value)
        rows.append(row)
    columns = ["id", "score", *names]
    if not rows:
        return pd.DataFrame({"id": pd.Series([], dtype=object), "score": pd.Series([], dtype=float)})
    return pd.DataFrame.from_records(rows, columns=columns)


# -- tables to disk -------------------------------------------------------------------------------------
def table_format(path: str | Path) -> str:
    """``"parquet"`` or ``"jsonl"`` from the suffix; anything else is an error naming the choices."""
    suffix = Path(path).suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    raise JointspaceError(f"{path}: unknown table format {suffix or '(no suffix)'!r}; "
                          f"use {', '.join(PARQUET_SUFFIXES + JSONL_SUFFIXES)}")


def _json_line(record: dict[str, Any], position: int) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        bad = next(k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v))
        raise ItemError(f"record {position}", f"field {bad!r} is {record[bad]}, which JSON cannot hold",
                        position=position) from None
    except TypeError as exc:
        raise ItemError(f"record {position}", f"a value JSON cannot hold: {exc}", position=position) from None


_KINDS = {bool: "bool", int: "int", float: "float", str: "str", bytes: "bytes", list: "list", dict: "struct"}


class _Tally:
    """Per field: the kinds of value seen (with a record of each) and samples of nested values."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, int]] = {}
        self.samples: dict[str, list[Any]] = {}

    def add(self, record: dict[str, Any], position: int) -> None:
        for name, value in record.items():
            kinds = self.kinds.get(name)
            if kinds is None:
                kinds = self.kinds[name] = {}
            if value is None:
                continue
            kind = _KINDS.get(type(value)) or type(value).__name__
            if kind not in kinds:
                kinds[kind] = position
            if kind == "list" or kind == "struct":
                samples = self.samples.setdefault(name, [])
                if len(samples) < _SAMPLES:
                    samples.append(value)

    def schema(self) -> Any:
        import pyarrow as pa

        simple = {"null": pa.null(), "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string(),
                  "bytes": pa.binary()}
        fields = []
        for name, kinds in self.kinds.items():
            found = set(kinds)
            if found == {"int", "float"}:
                found = {"float"}
            if len(found) > 1:
                shown = ", ".join(f"{kind} (record {pos})" for kind, pos in sorted(kinds.items(), key=lambda kv: kv[1]))
                raise JointspaceError(f"field {name!r} holds values of several kinds: {shown}; a Parquet column "
                                      "has one type: make the field one kind, or write JSONL (.jsonl)")
            kind = next(iter(found), "null")
            if kind in ("list", "struct"):
                try:
                    arrow_type = pa.array(self.samples[name]).type
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise JointspaceError(f"field {name!r}: its values cannot be one Parquet column: {exc}; "
                                          "write JSONL (.jsonl)") from None
            elif kind in simple:
                arrow_type = simple[kind]
            else:
                raise JointspaceError(f"field {name!r} holds a {kind} value (record {kinds[kind]}), which a table "
                                      "cannot hold; store text, numbers, booleans, lists or mappings")
            fields.append(pa.field(name, arrow_type))
        return pa.schema(fields)


def write_table(records: Any, path: str | Path, batch_size: int = BATCH) -> int:
    """Write records (a DataFrame or any iterable of mappings) to ``path``; returns how many were written.

    ``.parquet`` / ``.pq`` or ``.jsonl`` / ``.ndjson`` by suffix; see the module docstring.
    """
    path = Path(path)
    kind = table_format(path)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise JointspaceError(f"batch_size must be an integer of at least 1, got {batch_size!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".jointspace-table-", dir=path.parent) as tmp:
        part = Path(tmp) / path.name
        if kind == "jsonl":
            n = 0
            with open(part, "w", encoding="utf-8") as out:
                for n, record in enumerate(records_from(records), start=1):
                    out.write(_json_line(record, n - 1) + "\n")
        else:
            spool, tally = Path(tmp) / "spool.pickle", _Tally()
            with open(spool, "wb") as out:  # our own temporary file, read back only by us
                n = 0
                for batch in _batches(records_from(records), batch_size):
                    for i, record in enumerate(batch):
                        tally.add(record, n + i)
                    pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                    n += len(batch)
            _spool_to_parquet(spool, tally.schema(), part, batch_size)
        os.replace(part, path)
    return n


def _batches(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _spool_to_parquet(spool: Path, schema: Any, target: Path, batch_size: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(target, schema) as writer, open(spool, "rb") as batches:
        first = 0
        while True:
            try:
                batch = pickle.load(batches)
            except EOFError:
                break
            try:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema), row_group_size=batch_size)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise JointspaceError(f"records {first}..{first + len(batch) - 1}: cannot be written to Parquet: "
                                      f"{exc}; write JSONL (.jsonl)") from None
            first += len(batch)
        if first == 0:
            writer.write_table(schema.empty_table())
