"""The Store protocol: what every backend (embedded, sharded, PostgreSQL) does, and nothing more.

A store keeps items (an id, JSON fields, one float32 unit vector) and searches them by vector. It does
not know encoders' methods, records, media or tasks: the ``Collection`` above it validates and encodes,
then hands the store finished ``Row``s. Each ``put`` or ``delete`` is one transaction.

Optional capabilities (named vector fields, interactions, lexical search, content hashes) are declared in
``store.capabilities``; callers check that set (``require``), never probe with ``hasattr``.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from jointspace.encoders import Encoder, load_encoder
from jointspace.errors import Unsupported
from jointspace.results import Hit, WriteReport

#: extra vectors per item besides the main one (``put_field`` / ``field_vectors``)
VECTOR_FIELDS = "vector_fields"
#: user-item interactions kept with the behaviour vectors fitted on them
INTERACTIONS = "interactions"
#: a content hash per item, so that re-running an ``index`` skips what is stored already
CONTENT_HASHES = "content_hashes"
#: a lexical (BM25 / full-text) index kept in the same commits as the vectors: ``lexical_search``
LEXICAL = "lexical"
#: what a media item's lexical text is made of besides its text fields (what the bridges saw or heard)
DETAIL_TEXT_FIELDS = ("transcript", "labels", "snippet", "caption", "name")


@dataclass
class Row:
    """One item ready to store. ``replace``: an existing item with this id is replaced (upsert);
    otherwise it is kept and the row is reported as skipped."""

    id: str
    fields: dict[str, Any]
    vector: np.ndarray
    replace: bool = False
    content_hash: str | None = None


@dataclass(frozen=True)
class FieldInfo:
    """A named vector field: its dimension, the encoder that made it (if any) and free-form facts."""

    name: str
    dim: int
    encoder: str | None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "encoder": self.encoder, **self.info}


@runtime_checkable
class Store(Protocol):
    """Persistence and search of items; see the module docstring."""

    kind: str  # "embedded", "sharded" or "postgres"
    location: str  # where it lives, for messages (passwords redacted)
    manifest: dict[str, Any]
    capabilities: frozenset[str]

    def __len__(self) -> int: ...
    def __contains__(self, item_id: object) -> bool: ...
    def ids(self) -> list[str]: ...
    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored fields of those ids that exist (missing ids are absent from the answer)."""
    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The vectors of the ids, in order; KeyError naming the first unknown id."""
    def iterate(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]: ...
    def search(self, vectors: np.ndarray, k: int, where: Any = None) -> list[list[Hit]]:
        """Exact (or the store's index) top-k by inner product per query row, among items passing ``where``."""
    def put(self, rows: Sequence[Row], deadline: float | None = None) -> WriteReport:
        """Insert (or replace, per row) in ONE transaction; rolled back if ``deadline`` passes first."""
    def delete(self, ids: Sequence[str], deadline: float | None = None) -> WriteReport: ...
    def generation(self) -> int:
        """A number that changes with every committed write (from any process)."""
    def load_encoder(self) -> Encoder: ...
    def save_encoder(self, encoder: Encoder) -> None:
        """Commit the encoder's (fitted) state; one commit, so no kill leaves it half written."""
    def field_values(self, name: str) -> dict[str, int]:
        """How many items hold each value of field ``name``."""
    def info(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


def lexical_text(fields: dict[str, Any], manifest: dict[str, Any]) -> str:
    """The text the lexical index holds for an item: its embedded text fields (not media paths), then what
    the bridges found in its media. The same function on every backend, so their lexical answers agree."""
    media = manifest.get("media") or {}
    parts = [fields.get(name) for name in manifest.get("fields", []) if name not in media]
    parts += [fields.get(name) for name in DETAIL_TEXT_FIELDS if name not in manifest.get("fields", [])]
    return "\n".join(str(p) for p in parts if p is not None and not isinstance(p, dict | list) and str(p).strip())


def require(store: Store, capability: str, verb: str) -> None:
    """A clear error naming the backend when ``store`` lacks ``capability``."""
    if capability not in store.capabilities:
        have = ", ".join(sorted(store.capabilities)) or "none"
        raise Unsupported(f"{verb}: the {store.kind} store ({store.location}) does not support {capability} "
                          f"(it supports: {have}); use an embedded collection directory for this")


def encoder_to_bytes(enc: Encoder) -> bytes:
    """An encoder with its fitted state as one gzipped tar (stored in a table, or sent to Ray actors)."""
    with tempfile.TemporaryDirectory() as tmp:
        enc.save(Path(tmp) / "encoder")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(Path(tmp) / "encoder", arcname="encoder")
        return buf.getvalue()


def encoder_from_bytes(blob: bytes) -> Encoder:
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        return load_encoder(Path(tmp) / "encoder")


def check_vectors(vectors: Any, dim: int) -> np.ndarray:
    """Query vectors as a float32 (n, dim) array; a clear error for another shape."""
    from jointspace.errors import JointspaceError

    arr = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise JointspaceError(f"query vectors of shape {arr.shape}; this collection holds dim {dim}")
    return arr
