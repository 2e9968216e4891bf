"""What a file is, by its content (magic bytes, then a container probe), not only by its name.

``detect_modality(path)`` -> "image", "audio", "video" or "text". A file whose name claims one kind
but whose content is another (a text file named .png) is an ``ItemError`` naming the file, as is an
empty or unrecognisable one.
"""

from __future__ import annotations

from pathlib import Path

from jointspace.errors import ItemError
from jointspace.readers.audio import EXTENSIONS as AUDIO_EXTENSIONS
from jointspace.readers.files import checked_file
from jointspace.readers.images import EXTENSIONS as IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ogv", ".wmv", ".flv"}
TEXT_EXTENSIONS = {".txt", ".md", ".rst", ".text", ".csv", ".tsv", ".json", ".html", ".htm", ".xml", ".srt"}
MODALITIES = ("text", "image", "audio", "video")


def claimed_modality(path: Path) -> str | None:
    """The modality a file's extension claims, if any."""
    suffix = path.suffix.lower()
    for modality, extensions in (("image", IMAGE_EXTENSIONS), ("audio", AUDIO_EXTENSIONS),
                                 ("video", VIDEO_EXTENSIONS), ("text", TEXT_EXTENSIONS)):
        if suffix in extensions:
            return modality
    return None


def sniff(head: bytes) -> str | None:
    """The modality given by the first bytes, or None when a container must be probed (or unknown)."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
                        b"MM\x00*")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"fLaC", b"ID3", b".snd")) \
            or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")):
        return "audio"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "audio"  # an MPEG audio frame header (MP3 without ID3) or ADTS AAC
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head.startswith(b"OggS"):
        return "video" if b"theora" in head[:200] else "audio"
    return None


def _probe(path: Path) -> str | None:
    """Containers (MP4/MOV, Matroska/WebM, MPEG...): video if a video stream, else audio if an audio one."""
    import av

    try:
        with av.open(str(path)) as container:
            video = [s for s in container.streams.video if s.codec_context.name not in ("mjpeg", "png")
                     or (s.frames or 0) > 1]
            if video:
                return "video"
            if container.streams.audio:
                return "audio"
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the end of the sample
    return True


def detect_modality(path: str | Path) -> str:
    """"text", "image", "audio" or "video", from the content; ItemError naming the file otherwise."""
    path = checked_file(path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    claimed = claimed_modality(path)
    found = sniff(head)
    container = head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or head.startswith(
        (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV"))
    if found is None and container:
        found = _probe(path)
        if found is None:
            raise ItemError(str(path), "damaged media container (no readable audio or video stream)")
    if found is None and _looks_like_text(head):
        found = "text"
    if found is None and claimed in ("video", "audio"):
        found = _probe(path)
    if found is None:
        named = f" although named {path.suffix}" if claimed else ""
        raise ItemError(str(path), f"unrecognised file type{named} (not text, image, audio or video)")
    if claimed and claimed != found and found == "text":
        raise ItemError(str(path), f"not {'an' if claimed[0] in 'aeiou' else 'a'} {claimed} although named "
                                   f"{path.suffix}: content is text")
    return found
