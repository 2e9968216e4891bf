"""search: by text (GET with query parameters, or POST with JSON), as ``collection.search``."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from jointspace.errors import JointspaceError
from jointspace.server.errors import ApiError
from jointspace.server.routers.common import check_k, search_response
from jointspace.server.schemas import SearchIn, SearchOut
from jointspace.server.state import ServerState, get_state, in_thread


async def text_search(state: ServerState, query: str, k: int, where: Any, mode: str = "dense",
                      alpha: float | None = None, explain: bool = False) -> SearchOut:
    started = time.perf_counter()
    check_k(state, k)
    if len(query) > state.settings.max_query_chars:
        raise ApiError(422, f"query: at most {state.settings.max_query_chars} characters, got {len(query)}")
    if not query.strip():
        raise ApiError(400, "empty query: type some words to search for")
    col = state.collection
    if "text" not in col.query_modalities():
        raise ApiError(400, f"this collection's encoder ({col.encoder.name}) embeds "
                            f"{', '.join(col.query_modalities())}, not text: search it with an uploaded file")
    if mode != "dense":  # the lexical side needs the words: one call does both sides under the lock
        hits = await in_thread(state.locked(lambda: col.search(query, k=k, where=where or None, mode=mode,
                                                               alpha=alpha, explain=explain)))
        return await search_response(state, hits, query, "text", k, started)
    try:
        vector = await in_thread(lambda: col.embed_query(query, "text"))  # encoding runs outside the lock
    except JointspaceError as exc:
        raise ApiError(400, str(exc)) from exc
    hits = await in_thread(state.locked(lambda: col.search(vector, k=k, where=where or None, explain=explain)))
    return await search_response(state, hits, query, "text", k, started)


def build(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["search"])
    limit = state.settings.max_query_chars

    @router.get("/search", response_model=SearchOut, summary="collection.search(q, k, where) by text")
    async def search_get(
        q: str = Query(..., min_length=1, max_length=limit, pattern=r"\S", description="what to look for"),
        k: int = Query(10, ge=1, le=state.settings.max_k),
        where: str | None = Query(None, max_length=2000, description='e.g. "year >= 2000 and genre = drama"'),
        mode: Literal["dense", "lexical", "hybrid"] = Query("dense", description="dense, lexical (BM25) or hybrid"),
        alpha: float | None = Query(None, ge=0, le=1, description="hybrid: weight of the dense side (1 = dense "
                                    "only); leave out for reciprocal rank fusion"),
        explain: bool = Query(False, description="say why each hit ranks where it does"),
        state: ServerState = Depends(get_state),
    ) -> SearchOut:
        return await text_search(state, q, k, where, mode, alpha, explain)

    @router.post("/search", response_model=SearchOut, summary="collection.search(query, k, where) by text, JSON")
    async def search_post(body: SearchIn, state: ServerState = Depends(get_state)) -> SearchOut:
        return await text_search(state, body.query, body.k, body.where, body.mode, body.alpha, body.explain)

    return router
