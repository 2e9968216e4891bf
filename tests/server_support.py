"""Helpers for the server tests: small real collections with media files, a colour-histogram image
encoder (a real, if simple, image encoder), and a uvicorn server on 127.0.0.1 in a thread."""

from __future__ import annotations

import socket
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from PIL import Image, ImageDraw

from jointspace import Collection
from jointspace.encoders import register
from jointspace.encoders.base import Encoder
from jointspace.server.run import uvicorn_config

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (30, 60, 220), "yellow": (240, 210, 40)}
TEXTS = [
    ("apple", "a red apple on a wooden table", "red"),
    ("pear", "a green pear in a fruit bowl", "green"),
    ("sea", "the blue sea under a clear sky", "blue"),
    ("banana", "a ripe yellow banana", "yellow"),
    ("car", "a red sports car on the road", "red"),
    ("frog", "a small green frog by the pond", "green"),
]


class ColourEncoder(Encoder):
    """Images -> their colour histogram (bins^3 cells, square-rooted): similar colours, similar vectors."""

    name = "test-colour"
    modality = "image"

    def __init__(self, bins: int = 4) -> None:
        self.bins = bins

    @property
    def dim(self) -> int:
        return self.bins**3

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        out = np.zeros((len(items), self.dim), np.float32)
        for i, item in enumerate(items):
            with Image.open(item) as img:
                pixels = np.asarray(img.convert("RGB").resize((32, 32)), dtype=np.int64) * self.bins // 256
            cells = (pixels[..., 0] * self.bins + pixels[..., 1]) * self.bins + pixels[..., 2]
            out[i] = np.sqrt(np.bincount(cells.ravel(), minlength=self.dim))
        return out


register("test-colour", ColourEncoder)


def draw_image(path: Path, colour: str, shape: str = "circle") -> Path:
    img = Image.new("RGB", (96, 96), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    box = (12, 12, 84, 84)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=COLOURS[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def write_wav(path: Path, seconds: float = 0.4, freq: float = 440.0, rate: int = 8000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def text_collection(path: Path) -> Collection:
    """A tfidf collection of short texts; most items carry an image, one an audio clip with a transcript."""
    col = Collection.create(path, encoder="tfidf", fields=["text"])
    media = path / "media"
    records: list[dict[str, Any]] = []
    for i, (item_id, text, colour) in enumerate(TEXTS):
        draw_image(media / "photos" / f"{item_id}.png", colour, "circle" if i % 2 else "square")
        records.append({"id": item_id, "text": text, "colour": colour, "year": 2000 + i,
                        "image": f"photos/{item_id}.png"})
    write_wav(media / "clips" / "bell.wav")
    records.append({"id": "bell", "text": "a bell rings once, a short clear tone", "audio": "clips/bell.wav",
                    "transcript": "ding", "year": 2010})
    records.append({"id": "plain", "text": "a plain note with no picture", "year": 2011})
    col.add(records)
    return col


def image_collection(path: Path) -> Collection:
    """Images indexed by the colour encoder; their paths lie in the collection's media folder."""
    col = Collection.create(path, encoder=ColourEncoder(), fields=["image"])
    records = []
    for colour in COLOURS:
        for shape in ("circle", "square"):
            file = draw_image(path / "media" / f"{colour}-{shape}.png", colour, shape)
            records.append({"id": f"{colour}-{shape}", "image": str(file.resolve()), "caption": f"a {colour} {shape}"})
    col.add(records)
    return col


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a background thread, for a ``with`` block."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
