"""Records from JSONL, CSV or Parquet, streamed; malformed rows are skipped and reported, not fatal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jointspace.errors import JointspaceError
from jointspace.results import Skipped

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet", ".pq": "parquet"}


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


@dataclass
class RecordSource:
    """An iterable of records (dicts) from a file; ``skipped`` lists the rows that could not be read."""

    path: Path
    format: str
    chunk_size: int = 10_000
    skipped: list[Skipped] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.skipped = []
        if self.format == "jsonl":
            yield from self._jsonl()
        elif self.format in ("csv", "tsv"):
            yield from self._table(sep="," if self.format == "csv" else "\t")
        else:
            yield from self._parquet()

    def _jsonl(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    self.skipped.append(Skipped(f"line {line_no}", f"malformed JSON ({exc.msg})"))
                    continue
                if not isinstance(record, dict):
                    self.skipped.append(Skipped(f"line {line_no}", "not a JSON object"))
                    continue
                yield record

    def _table(self, sep: str) -> Iterator[dict[str, Any]]:
        import pandas as pd

        bad_lines: list[str] = []

        def on_bad(fields: list[str]) -> None:
            bad_lines.append(sep.join(fields)[:60])
            return None

        reader = pd.read_csv(self.path, sep=sep, chunksize=self.chunk_size, on_bad_lines=on_bad,
                             engine="python", encoding_errors="replace", index_col=False)
        for chunk in reader:
            for row in chunk.to_dict(orient="records"):
                yield {k: _clean(v) for k, v in row.items()}
        self.skipped.extend(Skipped(f"row {line!r}", "malformed CSV row (wrong number of fields)")
                            for line in bad_lines)

    def _parquet(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_size):
            for row in batch.to_pylist():
                yield {k: _clean(v) for k, v in row.items()}


def read_records(path: str | Path, format: str | None = None) -> RecordSource:
    """Stream records from JSONL, CSV/TSV or Parquet (format from the extension unless given)."""
    path = Path(path)
    if not path.exists():
        raise JointspaceError(f"{path}: no such file")
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise JointspaceError(f"{path}: unknown record format; use .jsonl, .csv, .tsv or .parquet")
    return RecordSource(path, fmt)
