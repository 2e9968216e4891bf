from __future__ import annotations

import pandas as pd
import pytest

from jointspace import JointspaceError, read_records


def test_jsonl_skips_malformed_lines_and_reports_line_numbers(tmp_path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": 1, "text": "one"}\n{broken\n\n[1, 2]\n{"id": 2, "text": "two"}\n')
    source = read_records(path)
    records = list(source)
    assert [r["id"] for r in records] == [1, 2]
    assert [s.where for s in source.skipped] == [f"{path} line 2", f"{path} line 4"]
    assert "malformed JSON" in source.skipped[0].reason


def test_csv_and_parquet_give_the_same_records(tmp_path) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x y", None, "z"], "year": [2001, 1999, 2020]})
    frame.to_csv(tmp_path / "r.csv", index=False)
    frame.to_parquet(tmp_path / "r.parquet")
    from_csv = list(read_records(tmp_path / "r.csv"))
    from_parquet = list(read_records(tmp_path / "r.parquet"))
    assert from_csv == from_parquet
    assert from_csv[1]["text"] is None and isinstance(from_csv[0]["year"], int)


def test_csv_row_with_too_many_fields_is_skipped(tmp_path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,text\n1,hello\n2,too,many,fields\n3,bye\n")
    source = read_records(path)
    assert [r["id"] for r in source] == [1, 3]
    assert len(source.skipped) == 1 and "wrong number of fields" in source.skipped[0].reason


def test_unknown_format_and_missing_file(tmp_path) -> None:
    (tmp_path / "r.xml").write_text("<a/>")
    with pytest.raises(JointspaceError, match="unknown record format"):
        read_records(tmp_path / "r.xml")
    with pytest.raises(JointspaceError, match="no such file"):
        read_records(tmp_path / "missing.jsonl")
