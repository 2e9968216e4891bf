"""Which query modalities a collection can be searched by, and how a query becomes a query vector.

The default is the collection's own encoder: it takes a query when its ``modality`` (or the
``modalities`` tuple of a multimodal encoder) names the query's modality; a text query is given as
text, a file as its path (as the file readers take it). Encoders and bridges that reach the space
another way (e.g. an image landing in the text space) register a handler:
``register_query_handler("image", fn)``, where ``fn(collection, query)`` returns a (1, dim) vector,
or None when it does not apply to this collection; ``fn.supports(collection)`` may say so up front.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from jointspace.collection import Collection

MODALITIES = ("text", "image", "audio")
Query = str | Path
QueryHandler = Callable[[Collection, Query], "np.ndarray | None"]
_HANDLERS: dict[str, list[QueryHandler]] = {}


def register_query_handler(modality: str, handler: QueryHandler) -> None:
    """Add a way to turn a ``modality`` query into a vector (tried before the collection's encoder)."""
    _HANDLERS.setdefault(modality, []).insert(0, handler)


def unregister_query_handler(modality: str, handler: QueryHandler) -> None:
    if handler in _HANDLERS.get(modality, []):
        _HANDLERS[modality].remove(handler)


def encoder_modalities(collection: Collection) -> tuple[str, ...]:
    encoder = collection.encoder
    return tuple(getattr(encoder, "modalities", None) or (encoder.modality,))


def _supports(handler: QueryHandler, collection: Collection) -> bool:
    check = getattr(handler, "supports", None)
    return True if check is None else bool(check(collection))


def searchable_modalities(collection: Collection) -> list[str]:
    """The query modalities this collection can be searched by."""
    native = encoder_modalities(collection)
    names = dict.fromkeys([*MODALITIES, *native, *_HANDLERS])
    return [m for m in names if m in native or any(_supports(h, collection) for h in _HANDLERS.get(m, []))]


def embed(collection: Collection, query: Query, modality: str) -> np.ndarray | None:
    """The query vector, or None when nothing here embeds that modality for this collection."""
    for handler in _HANDLERS.get(modality, []):
        if _supports(handler, collection):
            vector = handler(collection, query)
            if vector is not None:
                return np.atleast_2d(np.asarray(vector, dtype=np.float32))
    if modality not in encoder_modalities(collection):
        return None
    if modality == "text":
        text = query.read_text(encoding="utf-8") if isinstance(query, Path) else query
        return collection.embed_query(text)
    return collection.encoder.encode([str(query)])
