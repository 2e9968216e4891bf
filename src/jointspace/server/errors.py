"""Every error leaves the server as JSON ``{"error": message, "status": code}``: never a stack trace.

The OpenAPI schema says so too: ``document_errors`` replaces FastAPI's ``{"detail"}`` validation body
with this one and declares, on every operation, each status the server can answer it with (the
middleware's 400/413/503/504 included), so a schema-driven client or fuzzer finds no undeclared answer.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from jointspace.errors import Busy, DeadlineExceeded, JointspaceError, NotFittedError


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: str = Field(description="what went wrong, in words")
    status: int = Field(description="the HTTP status, repeated")
    details: list[dict[str, Any]] | None = Field(None, description="for 422: each invalid field and why")


# status -> what it means here; the ones every operation can get come from the middleware
STATUS_TEXT: dict[int, str] = {
    400: "a bad request: a Host header not served here, an invalid Content-Length, or input the collection "
         "cannot take (e.g. a filter it cannot parse)",
    401: "missing or wrong bearer token",
    403: "the server is read-only (started without --token-file)",
    404: "no such item",
    405: "this method is not allowed on this path",
    408: "the request body did not arrive within the server's timeout",
    409: "the collection's encoder is not fitted yet",
    413: "the request body, or the number of records, is over the server's limit",
    415: "not a file type this collection can be searched by",
    422: "a parameter or body field is invalid",
    500: "an internal error (details in the server's log)",
    503: "too many requests at once, or the collection is busy with a write: retry after Retry-After seconds",
    504: "the request took longer than the server's timeout (a write that did is rolled back)",
}
EVERY_OPERATION = (400, 405, 413, 500, 503, 504)
WITH_INPUT = (409, 422)  # operations that take parameters or a body
WITH_BODY = (408,)


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
        message = err.get("msg", "invalid")
        if err.get("type") == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == r"\S":
            message = "empty query: type some words to search for"
        parts.append(f"{where or 'request'}: {message}")
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

    @app.exception_handler(DeadlineExceeded)
    async def deadline(request: Request, exc: DeadlineExceeded) -> JSONResponse:
        return error_response(504, f"the request took longer than the server's timeout and was rolled back ({exc})")

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        retry = str(max(1, math.ceil(getattr(exc, "retry_after", 1.0))))
        return error_response(503, str(exc), {"Retry-After": retry})

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


def _error_response(status: int) -> dict[str, Any]:
    out: dict[str, Any] = {"description": STATUS_TEXT.get(status, "an error"),
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    if status == 503:
        out["headers"] = {"Retry-After": {"description": "seconds to wait before trying again",
                                          "schema": {"type": "integer"}}}
    if status == 401:
        out["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    return out


def _server_limits(components: dict[str, Any], settings: Any) -> None:
    """The body models' bounds narrowed to this server's settings (k, records per write, query length)."""
    for model in components.values():
        properties = model.get("properties", {})
        if "k" in properties:
            properties["k"]["maximum"] = min(properties["k"].get("maximum", settings.max_k), settings.max_k)
    # a record's values are any JSON the collection can store: numbers within the 64-bit integer range
    components["JsonValue"] = {"anyOf": [
        {"type": "string"}, {"type": "boolean"}, {"type": "null"},
        {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}]}
    records = components.get("RecordsIn", {}).get("properties", {}).get("records")
    if records is not None:
        records["items"] = {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}
    for model, field in (("RecordsIn", "records"), ("IdsIn", "ids")):
        if field in components.get(model, {}).get("properties", {}):
            components[model]["properties"][field]["maxItems"] = settings.max_records
    if "query" in components.get("SearchIn", {}).get("properties", {}):
        components["SearchIn"]["properties"]["query"]["maxLength"] = settings.max_query_chars


def document_errors(app: FastAPI, settings: Any) -> None:
    """Make ``app.openapi()`` declare the real error body, every status each operation can answer, and
    this server's own limits (so a request the schema calls valid is one the server takes)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        _server_limits(components, settings)
        components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                statuses = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
                statuses |= set(EVERY_OPERATION)
                if operation.get("parameters") or operation.get("requestBody"):
                    statuses |= set(WITH_INPUT)
                if operation.get("requestBody"):
                    statuses |= set(WITH_BODY)
                for status in sorted(statuses):
                    described = responses.get(str(status), {}).get("description")
                    responses[str(status)] = _error_response(status)
                    if described and described != "Validation Error" and status not in EVERY_OPERATION:
                        responses[str(status)]["description"] = described
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
