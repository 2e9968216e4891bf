"""A screenshot of the search page (docs/img/serve.png): a small sample collection, served on 127.0.0.1,
opened in Debian's headless Chromium.

    PYTHONPATH=src .venv/bin/python scripts/screenshot_server.py --out docs/img/serve.png
    PYTHONPATH=src .venv/bin/python scripts/screenshot_server.py --collection DIR --query "..." --out shot.png
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np
import uvicorn
from PIL import Image, ImageDraw

from jointspace import Collection
from jointspace.evaluate.datasets import wordnet_synsets
from jointspace.server import create_app
from jointspace.server.run import uvicorn_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PICTURES = [  # (id, caption, colour, shape)
    ("sun", "a yellow sun over a red sky", (245, 200, 40), "circle"),
    ("tomato", "a red tomato, round and ripe", (214, 40, 40), "circle"),
    ("brick", "a red brick wall", (170, 60, 40), "square"),
    ("cherry", "two red cherries on a stem", (190, 20, 50), "pair"),
    ("leaf", "a green leaf in the rain", (40, 150, 70), "circle"),
    ("lake", "a blue lake in the mountains", (40, 90, 200), "square"),
]
WORDS = ["red", "cardinal", "ruby", "crimson", "sunset", "poppy", "robin", "fox"]


def picture(path: Path, colour: tuple[int, int, int], shape: str) -> None:
    img = Image.new("RGB", (320, 200), (245, 244, 240))
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse((100, 40, 220, 160), fill=colour)
    elif shape == "square":
        for row in range(4):
            for col in range(6):
                draw.rectangle((20 + col * 48 + (row % 2) * 20, 20 + row * 42, 60 + col * 48 + (row % 2) * 20,
                                54 + row * 42), fill=colour)
    else:
        draw.ellipse((90, 90, 150, 150), fill=colour)
        draw.ellipse((170, 95, 230, 155), fill=colour)
        draw.line((120, 90, 165, 30, 200, 95), fill=(60, 110, 40), width=5)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def chime(path: Path, rate: int = 16000) -> None:
    t = np.arange(int(1.2 * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in (660, 990)) * np.exp(-3 * t) * 0.3
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((tone * 32767).astype("<i2").tobytes())


def sample_collection(path: Path) -> Collection:
    col = Collection.create(path, encoder="tfidf", fields=["text"], overwrite=True)
    records = []
    for item_id, caption, colour, shape in PICTURES:
        picture(path / "media" / f"{item_id}.png", colour, shape)
        records.append({"id": item_id, "text": caption, "image": f"{item_id}.png"})
    chime(path / "media" / "doorbell.wav")
    records.append({"id": "doorbell", "text": "a doorbell rings: the red door at the front", "audio": "doorbell.wav",
                    "transcript": "ding dong"})
    wanted = set(WORDS)
    for synset in wordnet_synsets():
        if synset.word in wanted and synset.pos == "n":
            wanted.discard(synset.word)
            records.append({"id": synset.id, "text": f"{synset.word}: {synset.definition}"})
    col.add(records)
    return col


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/serve.png"))
    parser.add_argument("--collection", type=Path, help="an existing collection (default: a built-in sample)")
    parser.add_argument("--query", default="red")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        col = Collection.open(args.collection) if args.collection else sample_collection(Path(tmp) / "sample")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(create_app(col), "127.0.0.1", port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1100, "height": 720})
                page.goto(f"http://127.0.0.1:{port}/")
                page.fill("#q", args.query)
                page.press("#q", "Enter")
                expect(page.locator("#status")).to_contain_text("result")
                for _ in range(200):  # every thumbnail loaded (polled: the page's CSP forbids wait_for_function)
                    if page.eval_on_selector_all(".card img", "imgs => imgs.every(i => i.complete && i.naturalWidth)"):
                        break
                    time.sleep(0.05)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
