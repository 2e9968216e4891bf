"""Run the app with uvicorn: loopback by default, short keep-alive, a header timeout, no server banner.

uvicorn's h11 protocol waits for request headers for ever: a client that connects and sends nothing, or
half a request line, holds its connection (and a file descriptor) until it goes away. ``HeaderTimeoutProtocol``
closes such a connection once ``header_timeout`` seconds have passed since it opened (or since the first byte
of a later keep-alive request) without complete headers; a slow body is the request timeout's business (408).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from jointspace.server.settings import LOOPBACK_HOSTS, ServerSettings

log = logging.getLogger("jointspace.server")


class HeaderTimeoutProtocol(H11Protocol):
    """h11 with a deadline on each request's headers; the connection is closed when they do not arrive."""

    header_timeout: float = ServerSettings.header_timeout

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # bytes of a request whose headers are not complete yet
            self._arm()
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # between requests the keep-alive timeout applies...
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._arm()  # ...unless part of the next request came with the last one

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closing a connection from %s: no complete request headers within %g s",
                     self.client, self.header_timeout)
            self.transport.close()


def protocol_for(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout})


def uvicorn_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
                   **extra: Any) -> uvicorn.Config:
    state = getattr(app.state, "jointspace", None)
    settings = state.settings if state is not None else ServerSettings()
    extra.setdefault("http", protocol_for(settings.header_timeout))
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                          timeout_graceful_shutdown=5, server_header=False, proxy_headers=False, **extra)


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve until interrupted."""
    if host not in LOOPBACK_HOSTS:
        log.warning("listening on %s: other machines can reach this server", host)
    uvicorn.Server(uvicorn_config(app, host, port, log_level)).run()
