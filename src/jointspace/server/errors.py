"""Every error leaves the server as JSON ``{"error": message, "status": code}``: never a stack trace."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jointspace.errors import JointspaceError, NotFittedError


class ApiError(Exception):
    """An error with its HTTP status, raised by routes and helpers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, "status": status, **extra}


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, message, **extra), status_code=status, headers=headers)


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such path: {request.url.path}"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return error_response(422, _validation_message(list(exc.errors())), details=details[:20])

    @app.exception_handler(NotFittedError)
    async def not_fitted(request: Request, exc: NotFittedError) -> JSONResponse:
        return error_response(409, f"the collection's encoder is not fitted yet: add items first ({exc})")

    @app.exception_handler(JointspaceError)
    async def jointspace_error(request: Request, exc: JointspaceError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(KeyError)
    async def key_error(request: Request, exc: KeyError) -> JSONResponse:
        message = str(exc.args[0]) if exc.args else "not found"
        state = getattr(request.app.state, "jointspace", None)
        if state is not None:  # the collection names its folder; a client need not learn where it lies
            message = message.replace(f" in {state.collection.path}", "")
        return error_response(404, message)
