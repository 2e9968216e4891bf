"""The web page (plain HTML/CSS/JS, no build step), its static files, and item media files."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from jointspace.server.errors import ApiError
from jointspace.server.media import media_type, safe_request_path
from jointspace.server.state import ServerState, get_state

STATIC = Path(str(files("jointspace.server") / "static"))


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def build(state: ServerState) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    @router.get("/")
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @router.get("/media/{path:path}")
    async def media(path: str, state: ServerState = Depends(get_state)) -> FileResponse:
        found = safe_request_path(state.media_dir, path)
        if found is None:
            raise ApiError(404, "no such media file")
        return FileResponse(found, media_type=media_type(found), headers={"Cache-Control": "max-age=3600"})

    return router
