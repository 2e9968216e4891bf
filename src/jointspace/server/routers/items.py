"""get and similar: one item's fields, and the items closest to it ("more like this")."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query

from jointspace.server.routers.common import check_k, item_out, search_response
from jointspace.server.schemas import ItemOut, SearchOut, SimilarIn, Where
from jointspace.server.state import ServerState, get_state, in_thread


async def similar_items(state: ServerState, item_id: str, k: int, where: Where) -> SearchOut:
    started = time.perf_counter()
    check_k(state, k)
    hits = await in_thread(state.locked(lambda: state.collection.similar(item_id, k=k, where=where or None)))
    return await search_response(state, hits, item_id, "item", k, started)


def build(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["items"])

    @router.get("/get", response_model=ItemOut, summary="collection.get(id): an item's stored fields",
                responses={404: {"description": "no item with that id"}})
    async def get(id: str = Query(..., min_length=1, max_length=10_000),
                  state: ServerState = Depends(get_state)) -> ItemOut:
        record = await in_thread(state.locked(lambda: state.collection.get(id)))
        return item_out(state, record)

    @router.get("/similar", response_model=SearchOut, summary="collection.similar(id, k, where): more like this",
                responses={404: {"description": "no item with that id"}})
    async def similar_get(id: str = Query(..., min_length=1, max_length=10_000),
                          k: int = Query(10, ge=1, le=state.settings.max_k),
                          where: str | None = Query(None, max_length=2000),
                          state: ServerState = Depends(get_state)) -> SearchOut:
        return await similar_items(state, id, k, where)

    @router.post("/similar", response_model=SearchOut, summary="collection.similar(id, k, where), JSON",
                 responses={404: {"description": "no item with that id"}})
    async def similar_post(body: SimilarIn, state: ServerState = Depends(get_state)) -> SearchOut:
        return await similar_items(state, body.id, body.k, body.where)

    return router
