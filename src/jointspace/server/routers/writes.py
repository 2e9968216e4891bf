"""add, upsert and delete, as on the collection; each needs the bearer token (see ``security``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends

from jointspace.collection import WriteReport
from jointspace.server.errors import ApiError
from jointspace.server.schemas import IdsIn, RecordsIn, SkippedOut, WriteOut
from jointspace.server.security import require_write
from jointspace.server.state import ServerState, get_state, in_thread

AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "the server is read-only (started without --token-file)"},
}


async def write(state: ServerState, count: int, fn: Callable[[], WriteReport]) -> WriteOut:
    if count > state.settings.max_records:
        raise ApiError(413, f"{count} items in one request; this server takes at most {state.settings.max_records}")

    def run() -> WriteOut:
        report = fn()
        return WriteOut(added=report.added, updated=report.updated, deleted=report.deleted,
                        skipped=[SkippedOut(item=s.where, reason=s.reason) for s in report.skipped],
                        count=len(state.collection))

    return await in_thread(state.locked(run))


def build(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["write"], dependencies=[Depends(require_write)], responses=AUTH_RESPONSES)

    @router.post("/add", response_model=WriteOut, summary="collection.add(records): ids already present are skipped")
    async def add(body: RecordsIn, state: ServerState = Depends(get_state)) -> WriteOut:
        return await write(state, len(body.records), lambda: state.collection.add(body.records))

    @router.post("/upsert", response_model=WriteOut, summary="collection.upsert(records): replace by id")
    async def upsert(body: RecordsIn, state: ServerState = Depends(get_state)) -> WriteOut:
        return await write(state, len(body.records), lambda: state.collection.upsert(body.records))

    @router.post("/delete", response_model=WriteOut, summary="collection.delete(ids): unknown ids are reported")
    async def delete(body: IdsIn, state: ServerState = Depends(get_state)) -> WriteOut:
        return await write(state, len(body.ids), lambda: state.collection.delete(body.ids))

    return router
