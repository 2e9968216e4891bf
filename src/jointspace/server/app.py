"""The app factory: one collection, its routers (one per capability), safe-by-default middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from jointspace.collection import Collection
from jointspace.errors import JointspaceError
from jointspace.server.errors import document_errors, install_error_handlers
from jointspace.server.middleware import install_middleware
from jointspace.server.routers import CORE, OPTIONAL, PAGE, RouterFactory
from jointspace.server.routers.page import static_files
from jointspace.server.settings import ServerSettings
from jointspace.server.state import ServerState
from jointspace.version import __version__

log = logging.getLogger("jointspace.server")

DESCRIPTION = """The jointspace collection API: the same names as the Python API (`search`, `get`,
`similar`, `add`, `upsert`, `delete`, and `recommend` / `classify` / `nearest` where available).
Reads are open; writes need `Authorization: Bearer <token>` and a server started with `--token-file`.
Errors are JSON: `{"error": message, "status": code}` (schema `ErrorOut`); every status an operation
can answer is listed under it. A write either commits (200) or, past the server's timeout, is rolled
back (504); a busy collection answers 503 with `Retry-After`."""


def _warm_up(collection: Collection) -> None:
    """Load the encoder's model now, so the first request does not pay for it."""
    if "text" in collection.query_modalities() and collection.encoder.is_fitted:
        try:
            collection.embed_query("warm up")
        except JointspaceError as exc:  # an encoder that cannot take this text is still servable
            log.warning("encoder warm-up failed: %s", exc)


def create_app(collection: Collection | str | Path, settings: ServerSettings | None = None, *,
               models: dict[str, Any] | None = None, extra_routers: Iterable[RouterFactory] = (),
               warm_up: bool = True) -> FastAPI:
    """A FastAPI app serving ``collection`` (an open Collection, or its location: a directory, a sharded
    directory or a ``postgresql://`` URL).

    ``models`` are task models by kind (``{"classify": model}``); ``extra_routers`` are more router
    factories ``build(state) -> APIRouter | None`` (a capability that returns None is left out).
    """
    opened_here = not isinstance(collection, Collection)
    col = collection if isinstance(collection, Collection) else Collection.open(collection)
    settings = settings or ServerSettings()
    state = ServerState(col, settings)
    state.models.update(models or {})
    if warm_up:
        _warm_up(col)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if opened_here:  # a collection the caller opened is theirs to close
            with state.lock:
                col.close()

    app = FastAPI(title="jointspace", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", lifespan=lifespan)
    app.state.jointspace = state
    install_error_handlers(app)
    for factory in CORE.values():
        app.include_router(factory(state))
    for name, factory in [*OPTIONAL.items(), *((getattr(f, "__name__", "extra"), f) for f in extra_routers)]:
        router = factory(state)
        if router is not None:
            app.include_router(router)
            state.capabilities.append(name)
    app.include_router(PAGE(state))
    app.mount("/static", static_files(), name="static")
    install_middleware(app, settings)
    document_errors(app, settings)
    return app
