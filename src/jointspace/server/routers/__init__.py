"""The API's routers, one per capability. Each ``build(state)`` returns an APIRouter, or None when the
capability is not available for this collection (its routes then simply do not exist)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from jointspace.server.routers import core, items, page, search, tasks, upload, writes
from jointspace.server.state import ServerState

RouterFactory = Callable[[ServerState], "APIRouter | None"]

# name -> factory; optional capabilities (listed by /info) are those that may return None
CORE: dict[str, RouterFactory] = {"core": core.build, "search": search.build, "upload": upload.build,
                                  "items": items.build, "writes": writes.build}
OPTIONAL: dict[str, RouterFactory] = {"recommend": tasks.build_recommend, "classify": tasks.build_classify,
                                      "nearest": tasks.build_nearest}
PAGE: RouterFactory = page.build

__all__ = ["CORE", "OPTIONAL", "PAGE", "RouterFactory"]
