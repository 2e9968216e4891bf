"""Run the app with uvicorn: loopback by default, short keep-alive, no server banner."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from fastapi import FastAPI

from jointspace.server.settings import LOOPBACK_HOSTS

log = logging.getLogger("jointspace.server")


def uvicorn_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
                   **extra: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                          timeout_graceful_shutdown=5, server_header=False, proxy_headers=False, **extra)


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve until interrupted."""
    if host not in LOOPBACK_HOSTS:
        log.warning("listening on %s: other machines can reach this server", host)
    uvicorn.Server(uvicorn_config(app, host, port, log_level)).run()
