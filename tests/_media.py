"""Real media files for the tests: photos that ship in pinned packages, and bad files made from them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import sklearn

SKLEARN_IMAGES = Path(sklearn.__file__).parent / "datasets" / "images"
CHINA = SKLEARN_IMAGES / "china.jpg"  # a photo of a temple (scikit-learn sample image)
FLOWER = SKLEARN_IMAGES / "flower.jpg"  # a photo of a daisy-like flower


def truncated_jpeg(path: Path) -> Path:
    """The first 40% of a real JPEG: the header is fine, the pixel data stops short."""
    data = CHINA.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.4)])
    return path


def text_named_png(path: Path) -> Path:
    path.write_text("This is a shopping list, not a picture.\nmilk\neggs\n")
    return path


def png_bomb(path: Path, side: int = 30_000) -> Path:
    """A valid 1-bit PNG of side x side pixels (all black) written in streaming chunks: ~100 KB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = bytearray()
    for _ in range(side):
        body += comp.compress(row)
    body += comp.flush()
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)))
        fh.write(chunk(b"IDAT", bytes(body)))
        fh.write(chunk(b"IEND", b""))
    return path


def long_wav(path: Path, seconds: int = 2 * 3600, rate: int = 8000) -> Path:
    """A valid 16-bit mono WAV of ``seconds`` of silence, written sparsely (no 100 MB of zeros on disk)."""
    n_bytes = seconds * rate * 2
    header = (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
              + b"data" + struct.pack("<I", n_bytes))
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + n_bytes)
    return path
