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


def make_video(path: Path, images: list, seconds_each: float = 2.0, fps: int = 4, audio=None,
               rate: int = 16000) -> Path:
    """An MP4 (MPEG-4 part 2 video, AAC audio) showing each image in turn, with an optional audio track."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        sound = out.add_stream("aac", rate=rate, layout="mono") if audio is not None else None
        for image in images:
            frame = av.VideoFrame.from_image(image.convert("RGB").resize((320, 240)))
            for _ in range(int(seconds_each * fps)):
                for packet in video.encode(frame):
                    out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            chunk = av.AudioFrame.from_ndarray(np.asarray(audio, np.float32)[None, :], format="fltp", layout="mono")
            chunk.sample_rate = rate
            for packet in [*sound.encode(chunk), *sound.encode(None)]:
                out.mux(packet)
    return path
