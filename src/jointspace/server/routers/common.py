"""Helpers the routers share: bounds on k, hits as JSON, display text."""

from __future__ import annotations

import time
from typing import Any

from jointspace.collection import Hit
from jointspace.server.errors import ApiError
from jointspace.server.media import media_kind, media_of
from jointspace.server.schemas import HitOut, ItemOut, SearchOut
from jointspace.server.state import ServerState, in_thread

SNIPPET_CHARS = 400


def check_k(state: ServerState, k: int) -> int:
    if not 1 <= k <= state.settings.max_k:
        raise ApiError(422, f"k: must be between 1 and {state.settings.max_k} on this server, got {k}")
    return k


def display_text(state: ServerState, fields: dict[str, Any]) -> str:
    """The embedded fields joined (files left out), shortened for a result card."""
    parts = [str(fields[f]) for f in state.collection.fields
             if fields.get(f) not in (None, "") and not (isinstance(fields[f], str) and media_kind(fields[f]))]
    text = " · ".join(parts)
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def hit_out(state: ServerState, hit: Hit) -> HitOut:
    return HitOut(id=hit.id, score=round(float(hit.score), 6), fields=hit.fields,
                  text=display_text(state, hit.fields), media=media_of(hit.fields, state.media_dir),
                  explain=getattr(hit, "explain", None))


def item_out(state: ServerState, record: dict[str, Any]) -> ItemOut:
    fields = {k: v for k, v in record.items() if k != state.collection.id_field}
    return ItemOut(id=str(record[state.collection.id_field]), fields=fields, text=display_text(state, fields),
                   media=media_of(fields, state.media_dir))


async def search_response(state: ServerState, hits: list[Hit], query: str | None, modality: str, k: int,
                          started: float) -> SearchOut:
    out = await in_thread(lambda: [hit_out(state, h) for h in hits])
    return SearchOut(query=query, modality=modality, k=k, took_ms=round((time.perf_counter() - started) * 1000, 2),
                     hits=out)
