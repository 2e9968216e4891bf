"""What every request shares: the open collection, the settings, and the lock that serialises access to it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from jointspace.collection import Collection
from jointspace.server.settings import ServerSettings

T = TypeVar("T")


class ServerState:
    """One collection behind one lock: SQLite and the in-memory index are used by one thread at a time.

    Query encoding (the slow part) runs outside the lock; only index look-ups and writes hold it.
    Models for tasks (classify, nearest, ...) are kept in ``models`` by name.
    """

    def __init__(self, collection: Collection, settings: ServerSettings) -> None:
        self.collection = collection
        self.settings = settings
        self.lock = threading.Lock()
        self.models: dict[str, Any] = {}
        self.capabilities: list[str] = []  # optional routers mounted (recommend, classify, nearest, ...)

    @property
    def media_dir(self) -> Path:
        path = self.collection.path
        default = path / "media" if isinstance(path, Path) else Path.cwd() / "media"  # PostgreSQL: no folder
        return (self.settings.media_dir or default).resolve()

    def locked(self, fn: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            with self.lock:
                return fn()

        return run


def get_state(request: Request) -> ServerState:
    return request.app.state.jointspace


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking work off the event loop; a request that times out stops waiting for it."""
    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
