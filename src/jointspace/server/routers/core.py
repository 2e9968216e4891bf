"""/health and /info."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jointspace.server.schemas import HealthOut, InfoOut
from jointspace.server.state import ServerState, get_state, in_thread
from jointspace.version import __version__


def build(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["collection"])

    @router.get("/health", response_model=HealthOut, summary="the server is up and the collection readable")
    async def health(state: ServerState = Depends(get_state)) -> HealthOut:
        count = await in_thread(state.locked(lambda: len(state.collection)))
        return HealthOut(status="ok", count=count)

    @router.get("/info", response_model=InfoOut, summary="collection.info(): count, encoder, fields, limits")
    async def info(state: ServerState = Depends(get_state)) -> InfoOut:
        col = state.collection
        count = await in_thread(state.locked(lambda: len(col)))
        return InfoOut(jointspace=__version__, count=count, encoder=col.manifest["encoder"], fields=col.fields,
                       id_field=col.id_field, index=col.manifest["index"], modalities=col.query_modalities(),
                       writable=state.settings.writable, max_k=state.settings.max_k,
                       max_upload_bytes=state.settings.max_upload_bytes, capabilities=state.capabilities)

    return router
