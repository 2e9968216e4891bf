"""The one "encode, drop the item the encoder rejects, retry the rest" loop, shared by every caller.

An encoder raises ``ItemError`` with the ``position`` of the bad item in the batch it was given; the loop
removes that item, records why, and encodes the others again, so one unreadable file or empty text never
costs the batch. A vector that is all zero or not finite (a text with no known word, a silent clip) is
rejected too: no query could ever find it, so storing it would be a silent wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, l2_normalise
from jointspace.errors import ItemError


@dataclass
class Encoded:
    """Vectors of the items that encoded (``kept`` are their positions in the input), why the others did
    not (position -> reason), and, for encoders that describe their items (media), each kept item's details."""

    vectors: np.ndarray
    kept: list[int]
    errors: dict[int, str] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)


def encode_each(encoder: Encoder, items: Sequence[Any], batch_size: int | None = None, details: bool = False,
                allow_zero: bool = False, method: str = "encode") -> Encoded:
    """Encode ``items`` in one pass (``batch_size`` items per encoder call when given), item errors reported.

    ``method`` is the encoder's method to call (``"encode"``, or ``"encode_text"`` for a bridge's text side).
    With ``details``, an encoder that has ``encode_with_details`` is asked for them.
    """
    out_vectors: list[np.ndarray] = []
    kept: list[int] = []
    errors: dict[int, str] = {}
    out_details: list[dict[str, Any]] = []
    describe = getattr(encoder, "encode_with_details", None) if details else None
    call = getattr(encoder, method)
    step = batch_size or max(len(items), 1)
    for start in range(0, len(items), step):
        keep = list(range(start, min(start + step, len(items))))
        while keep:
            try:
                batch = [items[i] for i in keep]
                if describe is not None:
                    vectors, info = describe(batch)
                    vectors = l2_normalise(np.asarray(vectors, dtype=np.float32))
                else:
                    vectors, info = call(batch), [{} for _ in keep]
                break
            except ItemError as exc:
                if exc.position is None:
                    raise
                bad = keep.pop(exc.position)
                errors[bad] = exc.reason if str(exc.item) in str(items[bad]) else f"{exc.item}: {exc.reason}"
        else:
            continue
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keep), -1)
        good = np.isfinite(vectors).all(axis=1) & (allow_zero | (np.abs(vectors).sum(axis=1) > 0))
        for j, i in enumerate(keep):
            if not good[j]:
                errors[i] = ("the encoder gave an all-zero vector (e.g. a text with no word it knows): no query "
                             "could find it" if np.isfinite(vectors[j]).all() else
                             "the encoder gave a vector that is not finite")
        out_vectors.append(vectors[good])
        kept.extend(i for j, i in enumerate(keep) if good[j])
        out_details.extend(d for j, d in enumerate(info) if good[j])
    dim = encoder.dim
    matrix = np.concatenate(out_vectors) if out_vectors else np.zeros((0, dim), np.float32)
    return Encoded(matrix, kept, errors, out_details)


def encode_robust(enc: Encoder, texts: Sequence[str], batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of ``texts`` and a mask of those that could be embedded (rejected ones are zero rows), for
    callers that keep the input's shape (classifier features, evaluation queries). An all-zero vector is
    kept (ok): such callers decide what it means; one that is not finite is rejected."""
    result = encode_each(enc, texts, batch_size=batch_size, allow_zero=True)
    out = np.zeros((len(texts), enc.dim), dtype=np.float32)
    ok = np.zeros(len(texts), dtype=bool)
    out[result.kept] = result.vectors
    ok[result.kept] = True
    return out, ok
