"""frames: records from DataFrames and mappings, results as DataFrames, Parquet / JSONL tables (real files)."""

from __future__ import annotations

import datetime as dt
import json
import math
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jointspace.errors import ItemError, JointspaceError
from jointspace.frames import hits_frame, plain_value, records_from, write_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "text": ["a red sneaker", None, "blue boots"],
        "price": [59.5, np.nan, 120.0],
        "stock": pd.array([3, None, 7], dtype="Int64"),
        "year": np.array([1999, 2004, 2021], dtype=np.int32),
        "on_sale": [True, False, np.True_],
        "added": pd.to_datetime(["2024-01-02 03:04:05", None, "2025-06-30 00:00:00"]),
        "tags": [["shoe", "red"], [], np.array(["boot"])],
        "size": pd.Categorical(["m", "l", None]),
    })


def test_records_from_a_dataframe_are_plain_python() -> None:
    rows = list(records_from(_frame()))
    assert rows[0] == {"text": "a red sneaker", "price": 59.5, "stock": 3, "year": 1999, "on_sale": True,
                       "added": "2024-01-02T03:04:05", "tags": ["shoe", "red"], "size": "m"}
    assert rows[1] == {"text": None, "price": None, "stock": None, "year": 2004, "on_sale": False, "added": None,
                       "tags": [], "size": "l"}
    assert rows[2]["tags"] == ["boot"] and rows[2]["size"] is None and rows[2]["added"] == "2025-06-30T00:00:00"
    for row in rows:  # exactly Python types, never numpy or pandas ones
        for value in row.values():
            assert type(value) in (str, int, float, bool, list, type(None)), (value, type(value))
    json.dumps(rows, allow_nan=False)  # valid JSON as they are


def test_records_from_keep_a_named_index_and_stream_in_chunks() -> None:
    frame = pd.DataFrame({"id": ["x1", "x2"], "n": [1, 2]}).set_index("id")
    assert list(records_from(frame)) == [{"id": "x1", "n": 1}, {"id": "x2", "n": 2}]
    assert list(records_from(pd.DataFrame({"n": [1, 2]}, index=[10, 11]))) == [{"n": 1}, {"n": 2}]
    big = pd.DataFrame({"i": np.arange(10_000)})
    it = records_from(big)
    assert next(it) == {"i": 0} and sum(1 for _ in it) == 9_999
    assert list(records_from(pd.DataFrame(index=range(2)))) == [{}, {}]


def test_records_from_mappings_and_generators() -> None:
    def gen() -> Any:
        yield {"a": np.int64(5), "b": np.float32(0.5), "c": pd.Timestamp("2020-01-01", tz="UTC")}
        yield {"a": pd.NA, "b": float("nan"), "c": dt.date(2021, 3, 4), 7: "seven"}
        yield pd.Series({"a": 1})

    rows = list(records_from(gen()))
    assert rows[0] == {"a": 5, "b": 0.5, "c": "2020-01-01T00:00:00+00:00"}
    assert type(rows[0]["a"]) is int and type(rows[0]["b"]) is float
    assert rows[1] == {"a": None, "b": None, "c": "2021-03-04", "7": "seven"}
    assert rows[2] == {"a": 1}


def test_a_record_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(ItemError, match=r"record 1: expected a mapping .*got str 'just text'") as info:
        list(records_from([{"a": 1}, "just text"]))
    assert info.value.position == 1
    with pytest.raises(ItemError, match="record 0: expected a mapping.*got int"):
        list(records_from([3]))
    with pytest.raises(JointspaceError, match="got str 'items.csv'.*read_records"):
        records_from("items.csv")
    with pytest.raises(JointspaceError, match="one mapping"):
        records_from({"a": 1})
    with pytest.raises(JointspaceError, match="repeated field name.*'a'"):
        list(records_from(pd.DataFrame([[1, 2]], columns=["a", "a"])))
    with pytest.raises(ItemError, match="record 0: two of its field names"):
        list(records_from([{1: "x", "1": "y"}]))


def test_plain_values() -> None:
    assert plain_value(np.datetime64("NaT")) is None and plain_value(pd.NaT) is None
    assert plain_value(np.datetime64("2020-01-02T03:04")) == "2020-01-02T03:04:00"
    assert plain_value(pd.Timedelta(seconds=90)) == "P0DT0H1M30S"
    assert plain_value(np.array([[1, 2], [3, np.nan]])) == [[1.0, 2.0], [3.0, None]]
    assert plain_value({"k": np.bool_(True)}) == {"k": True}
    assert plain_value(float("inf")) == math.inf  # kept: the write reports it
    assert plain_value(Path("a/b.jpg")) == "a/b.jpg"
    from decimal import Decimal

    assert plain_value(Decimal("3")) == 3 and plain_value(Decimal("2.5")) == 2.5


@dataclass
class _Hit:
    id: str
    score: float
    fields: dict[str, Any] = field(default_factory=dict)


def test_hits_frame() -> None:
    hits = [_Hit("a", np.float32(0.9), {"text": "red", "year": 1999}), _Hit("b", 0.5, {"text": "blue", "id": "dup"}),
            _Hit("c", 0.1)]
    frame = hits_frame(hits)
    assert list(frame.columns) == ["id", "score", "text", "year", "field.id"]
    assert list(frame["id"]) == ["a", "b", "c"] and frame["score"].tolist() == pytest.approx([0.9, 0.5, 0.1])
    assert frame["year"].iloc[0] == 1999 and pd.isna(frame["year"].iloc[1])
    assert frame["field.id"].iloc[1] == "dup" and pd.isna(frame["text"].iloc[2])
    empty = hits_frame([])
    assert list(empty.columns) == ["id", "score"] and len(empty) == 0


def test_parquet_and_jsonl_round_trip(tmp_path: Path) -> None:
    frame = _frame()
    assert write_table(frame, tmp_path / "t.parquet") == 3
    back = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert back == list(records_from(frame))
    schema = pq.read_schema(tmp_path / "t.parquet")
    assert str(schema.field("stock").type) == "int64" and str(schema.field("price").type) == "double"
    assert str(schema.field("tags").type.value_type) == "string"
    assert write_table(records_from(frame), tmp_path / "t.jsonl") == 3
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == list(records_from(frame))


def test_parquet_types_are_known_only_at_the_end(tmp_path: Path) -> None:
    """A field missing from the first batch, ints then floats, a field only ever null: one schema for all."""
    def gen() -> Any:
        for i in range(25):
            row: dict[str, Any] = {"i": i, "x": i if i < 20 else i + 0.5, "never": None}
            if i >= 15:
                row["late"] = f"v{i}"
            yield row

    assert write_table(gen(), tmp_path / "t.pq", batch_size=10) == 25
    table = pq.read_table(tmp_path / "t.pq")
    assert table.column_names == ["i", "x", "never", "late"]
    assert table.column("x").to_pylist()[19:21] == [19.0, 20.5]
    assert table.column("late").to_pylist()[14:16] == [None, "v15"]
    assert pq.ParquetFile(tmp_path / "t.pq").metadata.num_row_groups == 3


def test_write_errors_name_the_record_and_leave_no_file(tmp_path: Path) -> None:
    with pytest.raises(JointspaceError, match=r"field 'year' holds values of several kinds: int \(record 0\), "
                                              r"str \(record 1\)"):
        write_table([{"year": 1999}, {"year": "2004"}], tmp_path / "t.parquet")
    assert not list(tmp_path.iterdir())  # nothing half-written, no spool left
    assert write_table([{"year": 1999}, {"year": "2004"}], tmp_path / "t.jsonl") == 2  # JSONL takes it
    with pytest.raises(ItemError, match="record 1: field 'x' is inf, which JSON cannot hold"):
        write_table([{"x": 1.0}, {"x": float("inf")}], tmp_path / "u.jsonl")
    assert write_table([{"x": 1.0}, {"x": float("inf")}], tmp_path / "u.parquet") == 2
    assert pq.read_table(tmp_path / "u.parquet").column("x").to_pylist() == [1.0, math.inf]
    with pytest.raises(JointspaceError, match="unknown table format '.csv'"):
        write_table([], tmp_path / "t.csv")
    with pytest.raises(ItemError, match="record 2"):
        write_table([{"a": 1}, {"a": 2}, "oops"], tmp_path / "v.parquet")
    with pytest.raises(JointspaceError, match="field 'obj' holds a object value \\(record 0\\)"):
        write_table([{"obj": object()}], tmp_path / "w.parquet")
    with pytest.raises(ItemError, match="record 0: a value JSON cannot hold"):
        write_table([{"raw": b"\x00\x01"}], tmp_path / "w.jsonl")
    assert write_table([{"raw": b"\x00\x01"}], tmp_path / "w.parquet") == 1  # Parquet holds bytes
    assert pq.read_table(tmp_path / "w.parquet").column("raw").to_pylist() == [b"\x00\x01"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl", "u.parquet", "w.parquet"]


def test_empty_tables(tmp_path: Path) -> None:
    assert write_table([], tmp_path / "e.parquet") == 0
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0
    assert write_table(iter(()), tmp_path / "e.jsonl") == 0 and (tmp_path / "e.jsonl").read_text() == ""


def test_writing_streams_memory_does_not_grow_with_the_data(tmp_path: Path) -> None:
    """Peak Python memory for 10,000 records is about that for 1,000 (one batch, not the table)."""
    def gen(n: int) -> Any:
        for i in range(n):
            yield {"id": f"item-{i}", "text": f"record number {i} " * 5, "n": i, "score": i / 7}

    write_table(gen(100), tmp_path / "warm.parquet")  # imports and caches out of the measurement
    peaks = []
    for n in (1_000, 10_000):
        tracemalloc.start()
        write_table(gen(n), tmp_path / f"s{n}.parquet", batch_size=500)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert pq.read_metadata(tmp_path / "s10000.parquet").num_rows == 10_000
    assert peaks[1] < 2 * peaks[0], peaks
