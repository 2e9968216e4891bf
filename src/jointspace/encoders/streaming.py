"""Streaming input for the encoders that learn from a corpus: any iterable of texts, read once, in chunks.

``fit`` of lsa, lda, word2vec and spacy-vectors reads its corpus exactly once (so a generator reading a
file works) and spools what it needs to a temporary folder on disk. Later passes (power iterations,
LDA epochs, word2vec epochs) read the spool, so memory is bounded by one chunk plus the model, never
by the corpus.

Input rules, the same for every such encoder:

* ``str`` items are used as they are; ``bytes`` are decoded as UTF-8 with undecodable bytes replaced
  by U+FFFD (the documented fallback for non-UTF-8 input);
* blank texts are skipped (they carry no words) and counted in ``skipped``;
* any other item type raises :class:`ItemError` naming its position in the corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jointspace.encoders.base import as_items
from jointspace.errors import ItemError

WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def words(text: str, lowercase: bool = True) -> list[str]:
    """Alphabetic word tokens ("don't" stays one token); digits and punctuation are dropped."""
    return WORD_RE.findall(text.lower() if lowercase else text)


def as_text(item: Any, position: int) -> str:
    """One corpus item as text (bytes decoded with replacement); ItemError for any other type."""
    if isinstance(item, str):
        return item
    if isinstance(item, bytes | bytearray):
        return bytes(item).decode("utf-8", errors="replace")
    raise ItemError(f"item {position}", f"expected text, got {type(item).__name__}", position=position)


class Texts:
    """Wraps a corpus iterable: yields its non-blank texts once, counting documents and skipped blanks."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = as_items(items, text=True)  # a one-column DataFrame or 2-D array gives its column
        self.n_docs = 0
        self.skipped = 0

    def __iter__(self) -> Iterator[str]:
        for position, item in enumerate(self.items):
            text = as_text(item, position)
            if not text.strip():
                self.skipped += 1
                continue
            self.n_docs += 1
            yield text


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_lines(path: str | Path) -> Iterator[str]:
    """The lines of a text file, one document each, streamed; bytes that are not UTF-8 become U+FFFD."""
    with open(path, "rb") as fh:
        for raw in fh:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
