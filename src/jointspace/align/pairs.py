"""Paired records -> paired vectors: read each side's field, encode it, drop (and report) pairs that fail.

A side is named ``MODALITY:FIELD`` (``text:caption``, ``image:cover``, ``audio:clip``,
``vector:embedding``) or ``ENCODER:FIELD`` (``efficientnet:cover``). File fields (images, audio) hold
paths, resolved against the pairs file's folder when relative. A ``vector`` field holds a list of
numbers (e.g. behaviour vectors computed elsewhere) and needs no encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders import Encoder, available
from jointspace.encoders import encoder as make_encoder
from jointspace.errors import ItemError, JointspaceError
from jointspace.readers.records import Skipped

MODALITIES = ("text", "image", "audio", "vector")
DEFAULT_ENCODERS = {"text": "minilm", "image": "efficientnet", "audio": "speech"}
FILE_MODALITIES = ("image", "audio", "video")


@dataclass
class SideSpec:
    """Which field of a pair record a side reads, and how it is encoded (None: the field is a vector)."""

    modality: str
    field: str
    encoder: Encoder | None

    @classmethod
    def parse(cls, spec: str, encoder: str | None = None) -> SideSpec:
        """``"text:caption"`` / ``"efficientnet:cover"``, optionally with an explicit encoder name."""
        kind, sep, name = spec.partition(":")
        if not sep or not kind or not name:
            raise JointspaceError(f"side {spec!r}: expected MODALITY:FIELD, e.g. text:caption or image:path")
        if kind in MODALITIES:
            modality = kind
            enc_name = encoder or DEFAULT_ENCODERS.get(kind)
        elif kind == "space":
            raise JointspaceError(f"side {spec!r}: a space cannot feed another space; name the side's own encoder")
        elif kind in available():
            if encoder and encoder != kind:
                raise JointspaceError(f"side {spec!r} names encoder {kind!r} but --encoder says {encoder!r}")
            enc_name, modality = kind, ""
        else:
            raise JointspaceError(f"side {spec!r}: {kind!r} is neither a modality ({', '.join(MODALITIES)}) "
                                  f"nor an encoder ({', '.join(available())})")
        enc = make_encoder(enc_name) if enc_name else None
        if enc is not None and not modality:
            modality = enc.modality
        if enc is not None and modality != enc.modality:
            raise JointspaceError(f"side {spec!r}: encoder {enc.name!r} encodes {enc.modality}, not {modality}")
        return cls(modality, name, enc)

    @property
    def dim(self) -> int | None:
        return None if self.encoder is None else self.encoder.dim


@dataclass
class PairData:
    """What was read: both sides' vectors (row i of each is one pair), the kept records, what was skipped."""

    left: np.ndarray
    right: np.ndarray
    records: list[dict[str, Any]]
    skipped: list[Skipped] = field(default_factory=list)


def _value(record: dict[str, Any], spec: SideSpec, base: Path) -> Any:
    value = record.get(spec.field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ItemError(spec.field, f"missing or empty field {spec.field!r}")
    if spec.modality == "vector":
        try:
            vector = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ItemError(spec.field, f"field {spec.field!r} is not a list of numbers") from None
        if vector.ndim != 1 or not len(vector) or not np.isfinite(vector).all():
            raise ItemError(spec.field, f"field {spec.field!r} is not a finite 1-D vector")
        return vector
    if spec.modality in FILE_MODALITIES and isinstance(value, str):
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else base / path)
    return value


def encode_all(enc: Encoder, items: list[Any], labels: list[str], batch_size: int,
               progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[int], list[Skipped]]:
    """Encode in batches; an item the encoder rejects (ItemError) is reported and the rest go on.

    Returns (vectors, positions of the items they belong to, skipped).
    """
    from jointspace.encoders.robust import encode_each

    vectors, kept, skipped = [], [], []
    for start in range(0, len(items), batch_size):
        part = items[start:start + batch_size]
        result = encode_each(enc, part, allow_zero=True)
        vectors.append(result.vectors)
        kept += [start + i for i in result.kept]
        skipped += [Skipped(labels[start + i], reason) for i, reason in result.errors.items()]
        if progress:
            progress(len(part))
    return np.concatenate(vectors) if vectors else np.zeros((0, enc.dim), np.float32), kept, skipped


def read_pairs(records: Iterable[dict[str, Any]], left: SideSpec, right: SideSpec, base: Path,
               id_field: str = "id", batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> PairData:
    """Both sides of every usable pair, encoded; progress counts items (each pair's two sides)."""
    rows: list[tuple[dict[str, Any], Any, Any, str]] = []
    skipped: list[Skipped] = []
    for n, record in enumerate(records, start=1):
        label = f"id {record[id_field]!r}" if record.get(id_field) is not None else f"pair {n}"
        try:
            rows.append((record, _value(record, left, base), _value(record, right, base), label))
        except ItemError as exc:
            skipped.append(Skipped(label, exc.reason))
    alive = np.ones(len(rows), dtype=bool)
    sides: list[np.ndarray] = []
    for i, spec in enumerate((left, right)):
        todo = np.flatnonzero(alive)  # a pair already lost on the left is not encoded on the right
        items = [rows[j][1 + i] for j in todo]
        labels = [rows[j][3] for j in todo]
        if spec.encoder is None:
            lengths = [len(v) for v in items]
            common = max(set(lengths), key=lengths.count) if items else 0
            full = np.zeros((len(rows), common), np.float32)
            for j, v in zip(todo, items, strict=True):
                if len(v) == common:
                    full[j] = v
                else:
                    alive[j] = False
                    skipped.append(Skipped(rows[j][3], f"{spec.field!r} has dim {len(v)}, the others {common}"))
            if progress:
                progress(len(items))
        else:
            if not spec.encoder.is_fitted:  # e.g. tfidf: learns its vocabulary from this side's items
                spec.encoder.fit(items)
            vectors, kept, bad = encode_all(spec.encoder, items, labels, batch_size, progress)
            full = np.zeros((len(rows), spec.encoder.dim), np.float32)
            full[todo[kept]] = vectors
            mask = np.zeros(len(rows), dtype=bool)
            mask[todo[kept]] = True
            alive &= mask
            skipped += bad
        sides.append(full)
    return PairData(sides[0][alive], sides[1][alive], [r[0] for r, a in zip(rows, alive, strict=True) if a], skipped)
