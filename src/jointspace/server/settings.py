"""What a server allows: limits, the write token, the media folder and the host names it answers to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jointspace.errors import JointspaceError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerSettings:
    """Safe defaults: read-only (no token), small k, 25 MiB uploads, 30 s per request (10 s for the headers),
    loopback host names, no CORS."""

    token: str | None = None  # writes need ``Authorization: Bearer <token>``; None = read-only server
    max_k: int = 100
    max_upload_bytes: int = 25 * 2**20  # any request body; more is refused with 413 while it streams in
    request_timeout: float = 30.0  # seconds for a whole request, body included
    max_records: int = 1000  # records (or ids) in one add/upsert/delete request
    max_query_chars: int = 2000
    max_in_flight: int = 64  # requests handled at once; more get 503 at once instead of queueing without end
    media_dir: Path | None = None  # where item file paths may point; default: the collection's media/ folder
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host headers answered ("*" = any); stops DNS rebinding
    header_timeout: float = 10.0  # seconds from connecting (or a keep-alive request's first byte) to full headers
    cors_origins: tuple[str, ...] = ()  # origins a browser may call the API from; none (CORS off) by default

    def __post_init__(self) -> None:
        if self.max_k < 1:
            raise JointspaceError(f"max_k must be at least 1, got {self.max_k}")
        if self.max_upload_bytes < 1024:
            raise JointspaceError(f"max_upload_bytes must be at least 1024, got {self.max_upload_bytes}")
        if self.request_timeout <= 0:
            raise JointspaceError(f"request_timeout must be positive, got {self.request_timeout}")
        if self.header_timeout <= 0:
            raise JointspaceError(f"header_timeout must be positive, got {self.header_timeout}")
        for origin in self.cors_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise JointspaceError(f"CORS origin {origin!r}: give scheme://host[:port] (no path), or '*'")

    @property
    def writable(self) -> bool:
        return bool(self.token)


def load_token(path: str | Path) -> str:
    """The write token from a file (first line, stripped); a clear error when it is missing or too short."""
    path = Path(path)
    try:
        token = path.read_text(encoding="utf-8").strip().splitlines()[0].strip() if path.stat().st_size else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise JointspaceError(f"cannot read the token file {path}: {exc}") from exc
    if len(token) < 16:
        raise JointspaceError(f"{path}: the token must be at least 16 characters (e.g. `openssl rand -hex 32`)")
    return token
