"""Readers: load and validate inputs, one clear error per bad item."""

from jointspace.readers.records import RecordSource, read_records

__all__ = ["RecordSource", "read_records"]
