"""Pure ASGI middleware: host check, CORS (only when asked for), security headers, request timeout, and a
streamed body-size limit.

They are plain ASGI (not ``BaseHTTPMiddleware``) so a request body is never read into memory by them:
the size limit counts bytes as they stream in and stops the request at the first byte over the limit.
The timeout leaves its deadline in the request's scope; a write takes it over (``take_deadline``) so the
write itself decides between commit (200) and roll-back (504), and never both.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("jointspace.server")
INTERNAL_ERROR = "internal server error (details are in the server's log)"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'none'; "
     b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
]


async def send_json_error(send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *SECURITY_HEADERS, *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit; FastAPI passes HTTPExceptions through as they are."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than the limit of {limit:,} bytes")


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: at once from Content-Length, else as soon as the stream passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_json_error(send, 400, "invalid Content-Length header")
                return
            if int(declared) > self.max_bytes:
                await send_json_error(send, 413, str(BodyTooLarge(self.max_bytes).detail))
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if not started:
                await send_json_error(send, 413, str(exc.detail))


DEADLINE_KEY = "jointspace.deadline"  # time.monotonic() instant by which the request must be answered
TIMER_KEY = "jointspace.timer"  # the cancel scope that enforces it


def take_deadline(scope: Scope) -> float | None:
    """For a write about to start: the request's deadline, with the timeout's own cancellation turned off.

    From here the write keeps the deadline itself (it commits, or rolls back and raises
    ``DeadlineExceeded``), so the answer is always what happened: 200 committed, 504 rolled back.
    """
    timer = scope.get(TIMER_KEY)
    if timer is not None:
        timer.deadline = math.inf
    return scope.get(DEADLINE_KEY)


class TimeoutMiddleware:
    """A request that takes longer than ``seconds`` gets 408 (body still arriving) or 504 (work too slow)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "body_done": False}

        async def tracking_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def tracking_send(message: Message) -> None:
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        scope[DEADLINE_KEY] = time.monotonic() + self.seconds
        with anyio.move_on_after(self.seconds) as cancel:
            scope[TIMER_KEY] = cancel
            await self.app(scope, tracking_receive, tracking_send)
        if cancel.cancelled_caught and not state["started"]:
            if state["body_done"] or scope.get("method") in ("GET", "HEAD"):
                await send_json_error(send, 504, f"the request took longer than {self.seconds:g} s")
            else:
                await send_json_error(send, 408, f"the request body did not arrive within {self.seconds:g} s")


class HostCheckMiddleware:
    """Answer only to the allowed Host names (a page on another site cannot reach us by DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app, self.allowed = app, {h.lower() for h in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = (_header(scope, b"host") or "").lower()
        name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if name not in self.allowed:
            await send_json_error(send, 400, f"host {host!r} is not served here (allowed: {sorted(self.allowed)}; "
                                             "start the server with --allow-host to add one)")
            return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """nosniff, no framing, no referrer, and a content security policy that allows only this origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in present]
            await send(message)

        await self.app(scope, receive, with_headers)


class ConcurrencyLimitMiddleware:
    """At most ``limit`` requests in flight; the next gets 503 with Retry-After rather than an endless queue."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit, self.in_flight = app, limit, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await send_json_error(send, 503, "too many requests at once; retry shortly", ((b"retry-after", b"1"),))
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class CatchAllMiddleware:
    """An unexpected exception becomes a JSON 500 (details only in the log), and the connection stays usable.

    Starlette's own last-resort handler re-raises to the server after answering, which then drops the
    connection; this one sits inside it and ends the matter.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_json_error(send, 500, INTERNAL_ERROR)
            else:
                raise


def install_middleware(app: Any, settings: Any) -> None:
    """Outermost first: host check, CORS (with ``cors_origins`` only), security headers, concurrency limit,
    timeout, body limit, catch-all."""
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(TimeoutMiddleware, seconds=settings.request_timeout)
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.max_in_flight)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], allow_credentials=False, max_age=600)
    app.add_middleware(HostCheckMiddleware, allowed=tuple(settings.allowed_hosts))
