"""Writes need ``Authorization: Bearer <token>``, compared in constant time; without a token the server is read-only."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jointspace.server.errors import ApiError
from jointspace.server.state import ServerState, get_state

bearer = HTTPBearer(auto_error=False, description="the token from the server's --token-file; needed for writes")


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def require_write(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                        state: ServerState = Depends(get_state)) -> None:
    """A dependency for every route that changes the collection."""
    expected = state.settings.token
    if not expected:
        raise ApiError(403, "this server is read-only: start it with --token-file FILE to allow writes")
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "writes need an 'Authorization: Bearer <token>' header", challenge)
    if not token_matches(credentials.credentials, expected):
        raise ApiError(401, "wrong token", challenge)
