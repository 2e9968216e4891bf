"""Uploaded query files: what they are is read from their first bytes, never taken from a name or a header."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jointspace.server.errors import ApiError

HEAD_BYTES = 64


@dataclass(frozen=True)
class Sniffed:
    modality: str  # "image", "audio", "video" or "text"
    mime: str
    suffix: str


def _riff(head: bytes, kind: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == kind


# (test on the first bytes, what they are); order matters where signatures overlap
SIGNATURES: list[tuple[object, Sniffed]] = [
    (lambda h: h[:3] == b"\xff\xd8\xff", Sniffed("image", "image/jpeg", ".jpg")),
    (lambda h: h[:8] == b"\x89PNG\r\n\x1a\n", Sniffed("image", "image/png", ".png")),
    (lambda h: h[:6] in (b"GIF87a", b"GIF89a"), Sniffed("image", "image/gif", ".gif")),
    (lambda h: _riff(h, b"WEBP"), Sniffed("image", "image/webp", ".webp")),
    (lambda h: h[:2] == b"BM" and len(h) >= 14, Sniffed("image", "image/bmp", ".bmp")),
    (lambda h: h[:4] in (b"II*\x00", b"MM\x00*"), Sniffed("image", "image/tiff", ".tiff")),
    (lambda h: _riff(h, b"WAVE"), Sniffed("audio", "audio/wav", ".wav")),
    (lambda h: h[:4] == b"fLaC", Sniffed("audio", "audio/flac", ".flac")),
    (lambda h: h[:4] == b"OggS", Sniffed("audio", "audio/ogg", ".ogg")),
    (lambda h: h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and h[1] & 0xE6 in (0xE2, 0xE4, 0xE6)),
     Sniffed("audio", "audio/mpeg", ".mp3")),
    (lambda h: h[4:8] == b"ftyp" and h[8:11] in (b"M4A", b"M4B"), Sniffed("audio", "audio/mp4", ".m4a")),
    (lambda h: h[4:8] == b"ftyp", Sniffed("video", "video/mp4", ".mp4")),
    (lambda h: h[:4] == b"\x1aE\xdf\xa3", Sniffed("video", "video/webm", ".webm")),
    (lambda h: _riff(h, b"AVI "), Sniffed("video", "video/x-msvideo", ".avi")),
]
TEXT = Sniffed("text", "text/plain", ".txt")
ACCEPTED = ("images (JPEG, PNG, GIF, WebP, BMP, TIFF), audio (WAV, FLAC, OGG, MP3, M4A), video (MP4, WebM, AVI) "
            "or UTF-8 text")


def sniff(head: bytes) -> Sniffed | None:
    """The kind of file these first bytes start, or None when they match nothing known."""
    for test, kind in SIGNATURES:
        if test(head):  # type: ignore[operator]
            return kind
    return None


def _is_text(fh: BinaryIO, limit: int = 1 << 20) -> bool:
    fh.seek(0)
    data = fh.read(limit + 1)
    if len(data) > limit or b"\x00" in data:
        return False
    try:
        return bool(data.decode("utf-8").strip())
    except UnicodeDecodeError:
        return False


def identify(fh: BinaryIO, declared: str | None, name: str = "upload") -> Sniffed:
    """What an upload is by its content; 415 when it is nothing we take or contradicts its declared type."""
    fh.seek(0)
    head = fh.read(HEAD_BYTES)
    if not head:
        raise ApiError(400, f"{name}: the uploaded file is empty")
    kind = sniff(head) or (TEXT if _is_text(fh) else None)
    fh.seek(0)
    if kind is None:
        raise ApiError(415, f"{name}: unrecognised file content; send {ACCEPTED}")
    declared = (declared or "").split(";")[0].strip().lower()
    declared_family = declared.split("/")[0]
    if declared_family in ("image", "audio", "video", "text") and declared_family != kind.modality:
        raise ApiError(415, f"{name}: declared as {declared} but its content is {kind.mime}")
    return kind


def save_upload(fh: BinaryIO, kind: Sniffed, folder: Path) -> Path:
    """Copy an upload (already size-limited while it streamed) to a real file an encoder can open."""
    fd, tmp = tempfile.mkstemp(suffix=kind.suffix, dir=folder)
    fh.seek(0)
    with open(fd, "wb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)
    return Path(tmp)
