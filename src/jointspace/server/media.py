"""Item files (images, audio) served from the collection's media folder only: no path leaves that folder.

A field whose value names a media file (relative to the media folder, or absolute inside it) gets a
``/media/...`` URL in each hit; anything that resolves elsewhere (``..``, symlinks out, other drives)
gets none, and ``GET /media/...`` answers 404 for it.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

MEDIA_KINDS = {
    ".jpg": "image", ".jpeg": "image", ".png": "image", ".gif": "image", ".webp": "image", ".bmp": "image",
    ".wav": "audio", ".flac": "audio", ".ogg": "audio", ".oga": "audio", ".mp3": "audio", ".m4a": "audio",
    ".opus": "audio", ".mp4": "video", ".webm": "video", ".ogv": "video",
}
EXTRA_TYPES = {".flac": "audio/flac", ".opus": "audio/opus", ".webp": "image/webp", ".oga": "audio/ogg"}


def media_kind(name: str) -> str | None:
    return MEDIA_KINDS.get(PurePosixPath(name).suffix.lower())


def media_type(path: Path) -> str:
    return EXTRA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def resolve_inside(root: Path, name: str) -> Path | None:
    """The real file ``name`` points to when it lies inside ``root`` and is a media file; else None."""
    if not name or len(name) > 4096 or "\x00" in name or media_kind(name) is None:
        return None
    try:
        candidate = Path(name)
        path = (candidate if candidate.is_absolute() else root / candidate).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root) or not path.is_file() or media_kind(path.name) is None:
        return None
    return path


def safe_request_path(root: Path, requested: str) -> Path | None:
    """The file for ``GET /media/<requested>``: plain relative segments only, resolved inside ``root``."""
    parts = requested.replace("\\", "/").split("/")
    if requested.startswith("/") or any(p in ("", ".", "..") or ":" in p for p in parts):
        return None
    return resolve_inside(root, "/".join(parts))


def media_of(fields: dict[str, Any], root: Path) -> list[dict[str, str]]:
    """``[{field, kind, url}]`` for each field of a hit that names a media file inside ``root``."""
    out = []
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        path = resolve_inside(root, value)
        if path is not None:
            rel = path.relative_to(root).as_posix()
            out.append({"field": name, "kind": media_kind(path.name) or "file", "url": "/media/" + quote(rel)})
    return out
