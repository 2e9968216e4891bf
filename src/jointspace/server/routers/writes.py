"""add, upsert and delete, as on the collection; each needs the bearer token (see ``security``).

A write is answered with what happened to it, never more: it runs to its end in its thread (it is not
abandoned when the request's time is up), with the request's deadline passed to the collection, which
commits before it or rolls back and raises ``DeadlineExceeded`` (answered 504). A write that cannot get
the collection before the deadline, because another request holds it, is ``Busy`` (503, Retry-After).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request

from jointspace.errors import Busy
from jointspace.server.errors import ApiError
from jointspace.server.middleware import take_deadline
from jointspace.server.schemas import IdsIn, RecordsIn, SkippedOut, WriteOut
from jointspace.server.security import require_write
from jointspace.server.state import ServerState, get_state

AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "the server is read-only (started without --token-file)"},
}


def takes_deadline(method: Callable[..., Any]) -> bool:
    """Whether a collection's write verb accepts ``deadline=`` (a ``time.monotonic()`` instant)."""
    try:
        return "deadline" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


async def write(state: ServerState, request: Request, count: int, verb: str, payload: list[Any]) -> WriteOut:
    if count > state.settings.max_records:
        raise ApiError(422, f"{count} items in one request; this server takes at most {state.settings.max_records} "
                            "(its schema says so too)")
    deadline = take_deadline(request.scope)
    col = state.collection
    method = getattr(col, verb)
    kwargs = {"deadline": deadline} if deadline is not None and takes_deadline(method) else {}

    def run() -> WriteOut:
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not state.lock.acquire(timeout=wait):
            raise Busy(f"the collection is busy with another request; nothing was written ({verb}): retry shortly")
        try:
            report = method(payload, **kwargs)
            return WriteOut(added=report.added, updated=report.updated, deleted=report.deleted,
                            skipped=[SkippedOut(item=s.where, reason=s.reason) for s in report.skipped],
                            count=len(col))
        finally:
            state.lock.release()

    return await anyio.to_thread.run_sync(run)  # waited for to its end: the answer is what the collection did


def build(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["write"], dependencies=[Depends(require_write)], responses=AUTH_RESPONSES)

    @router.post("/add", response_model=WriteOut, summary="collection.add(records): ids already present are skipped")
    async def add(body: RecordsIn, request: Request, state: ServerState = Depends(get_state)) -> WriteOut:
        return await write(state, request, len(body.records), "add", body.records)

    @router.post("/upsert", response_model=WriteOut, summary="collection.upsert(records): replace by id")
    async def upsert(body: RecordsIn, request: Request, state: ServerState = Depends(get_state)) -> WriteOut:
        return await write(state, request, len(body.records), "upsert", body.records)

    @router.post("/delete", response_model=WriteOut, summary="collection.delete(ids): unknown ids are reported")
    async def delete(body: IdsIn, request: Request, state: ServerState = Depends(get_state)) -> WriteOut:
        return await write(state, request, len(body.ids), "delete", body.ids)

    return router
