"""search by an uploaded file (image, audio or text), routed to whatever embeds that modality here."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, UploadFile

from jointspace.errors import ItemError, NotFittedError
from jointspace.server.errors import ApiError
from jointspace.server.routers.common import check_k, search_response
from jointspace.server.schemas import SearchOut
from jointspace.server.state import ServerState, get_state, in_thread
from jointspace.server.uploads import identify, save_upload

log = logging.getLogger("jointspace.server")


def _display_name(file: UploadFile) -> str:
    name = Path((file.filename or "upload").replace("\\", "/")).name
    return "".join(c for c in name if c.isprintable())[:200] or "upload"


def build(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["search"])

    @router.post(
        "/search/upload", response_model=SearchOut,
        summary="collection.search by an uploaded image, audio or text file",
        responses={413: {"description": "file larger than the server's limit"},
                   415: {"description": "not a file type this collection can be searched by"}},
    )
    async def search_upload(
        file: UploadFile = File(..., description="the query: an image, an audio clip or a text file"),
        k: int = Form(10, ge=1, le=state.settings.max_k),
        where: str | None = Form(None, max_length=2000),
        state: ServerState = Depends(get_state),
    ) -> SearchOut:
        started = time.perf_counter()
        check_k(state, k)
        name = _display_name(file)
        col = state.collection
        kind = await in_thread(lambda: identify(file.file, file.content_type, name))
        if kind.modality not in col.query_modalities():
            raise ApiError(415, f"{name} is {kind.mime}, but this collection's encoder ({col.encoder.name}) embeds "
                                f"{', '.join(col.query_modalities())}: it cannot be searched by {kind.modality}")
        with tempfile.TemporaryDirectory(prefix="jointspace-upload-", ignore_cleanup_errors=True) as tmp:
            path = await in_thread(lambda: save_upload(file.file, kind, Path(tmp)))
            try:
                vector = await in_thread(lambda: col.embed_query(path, kind.modality))
            except Exception as exc:  # untrusted bytes: any decoder failure is the file's fault, not the server's
                if isinstance(exc, NotFittedError):
                    raise
                log.info("upload %s could not be embedded: %r", name, exc)
                reason = (exc.reason if isinstance(exc, ItemError) else str(exc) or type(exc).__name__)
                reason = reason.replace(str(path), name)
                raise ApiError(400, f"{name}: cannot be read as {kind.mime}: {reason}") from exc
        hits = await in_thread(state.locked(lambda: col.search(vector, k=k, where=where or None)))
        return await search_response(state, hits, name, kind.modality, k, started)

    return router
