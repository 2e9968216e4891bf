"""Every surface gives the same answers: Python, the CLI, HTTP and the page, on every backend.

The flagship case is a folder of real photos and speech indexed with ``jointspace index FOLDER`` (the joint
encoder): searched by text and by an uploaded image through Python, the CLI, HTTP and the page in Chromium.
Text collections on the embedded, sharded and PostgreSQL stores are served by ``create_app(location)`` and
answer HTTP searches exactly as Python does; ``jointspace serve --classifier/--nearest`` start and answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _media import CHINA, FLOWER, make_video
from _pgserver import postgres_server
from server_support import ThreadedServer, free_port
from typer.testing import CliRunner

from jointspace import Collection
from jointspace.cli import app
from jointspace.samples import speech_samples
from jointspace.server import create_app

SPEECH = {s.path.stem: s.path for s in speech_samples()}
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


# -- the mixed folder: photos, speech and a note, in one joint space ------------------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("folder")
    shutil.copy(FLOWER, folder / "flower.jpg")
    shutil.copy(CHINA, folder / "temple.jpg")
    shutil.copy(SPEECH["en-agent-pass"], folder / "password.wav")
    shutil.copy(SPEECH["en-vm-goodbye"], folder / "goodbye.wav")
    (folder / "note.txt").write_text("Remember to water the garden flowers on Sunday.")
    out = tmp_path_factory.mktemp("joint") / "col"
    res = CliRunner().invoke(app, ["index", str(folder), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def mixed_server(mixed: Path) -> Iterator[str]:
    with ThreadedServer(create_app(str(mixed))) as server:
        yield server.url


def cli_ids(*args: str) -> list[str]:
    res = CliRunner().invoke(app, ["search", *args, "--json"])
    assert res.exit_code == 0, res.output
    return [h["id"] for h in json.loads(res.output)]


def test_text_query_on_the_joint_folder_same_everywhere(mixed: Path, mixed_server: str) -> None:
    with Collection.open(mixed) as col:
        assert set(col.query_modalities()) >= {"text", "image", "audio"}
        python = [h.id for h in col.search("a flower in a garden", k=4)]
    assert python[0] in ("flower.jpg", "note.txt")
    assert cli_ids(str(mixed), "a flower in a garden", "-k", "4") == python
    body = httpx.get(f"{mixed_server}/search", params={"q": "a flower in a garden", "k": 4}, timeout=60).json()
    assert [h["id"] for h in body["hits"]] == python
    # and a spoken phrase is found by what was said
    with Collection.open(mixed) as col:
        spoken = [h.id for h in col.search("goodbye", k=2)]
    assert "goodbye.wav" in spoken
    body = httpx.get(f"{mixed_server}/search", params={"q": "goodbye", "k": 2}, timeout=60).json()
    assert [h["id"] for h in body["hits"]] == spoken


def test_image_query_on_the_joint_folder_same_everywhere(mixed: Path, mixed_server: str) -> None:
    with Collection.open(mixed) as col:
        python = [h.id for h in col.search(Path(FLOWER), k=3, modality="image")]
        from_bytes = [h.id for h in col.search(FLOWER.read_bytes(), k=3)]
    assert python[0] == "flower.jpg" and from_bytes == python
    assert cli_ids(str(mixed), "--image", str(FLOWER), "-k", "3") == python
    with open(FLOWER, "rb") as fh:
        res = httpx.post(f"{mixed_server}/search/upload", files={"file": ("query.jpg", fh, "image/jpeg")},
                         data={"k": "3"}, timeout=60)
    assert res.status_code == 200, res.text
    assert [h["id"] for h in res.json()["hits"]] == python
    with open(SPEECH["en-vm-goodbye"], "rb") as fh:
        res = httpx.post(f"{mixed_server}/search/upload", files={"file": ("q.wav", fh, "audio/wav")},
                         data={"k": "2"}, timeout=60)
    assert res.status_code == 200, res.text
    assert res.json()["hits"][0]["id"] == "goodbye.wav"
    from PIL import Image

    clip = make_video(mixed.parent / "query.mp4", [Image.open(FLOWER), Image.open(FLOWER)])
    with open(clip, "rb") as fh:  # every modality the joint encoder takes can be uploaded, video too
        res = httpx.post(f"{mixed_server}/search/upload", files={"file": ("clip.mp4", fh, "video/mp4")},
                         data={"k": "3"}, timeout=120)
    assert res.status_code == 200, res.text
    assert res.json()["modality"] == "video" and res.json()["hits"][0]["id"] == "flower.jpg"


def test_the_page_searches_the_joint_folder_by_text_and_by_image(mixed: Path, mixed_server: str) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    with Collection.open(mixed) as col:
        by_text = [h.id for h in col.search("a flower in a garden", k=12)]  # the page's default k
        by_image = [h.id for h in col.search(Path(FLOWER), k=12, modality="image")]
        hybrid = [h.id for h in col.search("flowers garden", k=12, mode="hybrid")]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(mixed_server + "/")
        expect(page.locator("#info")).to_contain_text("search by text")
        assert "image/*" in (page.get_attribute("#file", "accept") or "")
        page.fill("#q", "a flower in a garden")
        page.press("#q", "Enter")
        page.wait_for_selector(".card")
        assert page.locator(".card .id").all_inner_texts() == by_text
        page.set_input_files("#file", str(FLOWER))
        expect(page.locator("#status")).to_contain_text("like flower.jpg")
        assert page.locator(".card .id").all_inner_texts() == by_image
        page.select_option("#mode", "hybrid")  # meaning + words, and why each hit is there
        page.fill("#q", "flowers garden")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("flowers garden")
        page.wait_for_selector(".card .why")
        assert page.locator(".card .id").all_inner_texts() == hybrid
        assert "words #" in page.locator(".card .why").first.inner_text() or "meaning #" in \
            page.locator(".card .why").first.inner_text()
        browser.close()
    assert not errors, errors


# -- text collections on every backend, over HTTP ----------------------------------------------------------
TEXTS = [{"id": f"t{i}", "text": t, "year": 1990 + i} for i, t in enumerate([
    "a red apple on a wooden table", "a green pear in a fruit bowl", "the blue sea under a clear sky",
    "a ripe yellow banana", "a red sports car on the road", "a small green frog by the pond",
    "an old sailing ship at sea", "fresh bread from the bakery"])]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.mark.parametrize("backend", ["embedded", "sharded", "postgres"])
def test_serve_any_location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        location = f"{url}{'&' if '?' in url else '?'}table=surfaces"
    else:
        location = str(tmp_path / backend)
    col = Collection.create(location, encoder="tfidf", dim=512, shards=3 if backend == "sharded" else None,
                            overwrite=True)
    col.add(TEXTS)
    expected = [[h.id for h in col.search(q, k=3, where=w)] for q, w in
                (("red fruit", None), ("the sea", "year >= 1993"))]
    col.close()
    with ThreadedServer(create_app(location)) as server:
        got = [[h["id"] for h in httpx.get(f"{server.url}/search", params={"q": q, "k": 3, **({"where": w} if w
                                                                                           else {})}).json()["hits"]]
               for q, w in (("red fruit", None), ("the sea", "year >= 1993"))]
        info = httpx.get(f"{server.url}/info").json()
        similar = httpx.get(f"{server.url}/similar", params={"id": "t0", "k": 2}).json()
        recommended = httpx.post(f"{server.url}/recommend", json={"liked": ["t0", "t1"], "k": 2})
    assert got == expected and info["count"] == len(TEXTS)
    assert len(similar["hits"]) == 2 and "t0" not in [h["id"] for h in similar["hits"]]
    assert recommended.status_code == 200, recommended.text
    assert len(recommended.json()["hits"]) == 2


# -- serve with task models, as a real process ----------------------------------------------------------------
def test_serve_starts_with_classifier_and_nearest_models(tmp_path: Path) -> None:
    from jointspace.tasks.classify import ClassifierConfig, train
    from jointspace.tasks.nearest import train_nearest

    rows = [{"text": t, "label": lab} for t, lab in [
        ("what time does the shop open", "hours"), ("when do you close tonight", "hours"),
        ("are you open on sunday", "hours"), ("opening hours please", "hours"),
        ("how much is the delivery", "price"), ("what does shipping cost", "price"),
        ("is delivery free", "price"), ("price of express shipping", "price")] * 3]
    train(rows, ClassifierConfig(encoder="tfidf", encoder_params={"dim": 256, "stop_words": None}, model="logreg",
                                 folds=2), tmp_path / "clf")
    train_nearest(rows, tmp_path / "near", encoder="tfidf", encoder_params={"dim": 256, "stop_words": None}, k=3,
                  folds=2)
    col = Collection.create(tmp_path / "col", encoder="tfidf")
    col.add(TEXTS)
    col.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jointspace.cli", "serve", str(tmp_path / "col"), "--port",
                             str(port), "--classifier", str(tmp_path / "clf"), "--nearest", str(tmp_path / "near")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.3)
        classified = httpx.post(f"{base}/classify", json={"texts": ["when are you open", "cost of shipping"]},
                                timeout=60)
        assert classified.status_code == 200, classified.text
        assert [r["label"] for r in classified.json()["results"]] == ["hours", "price"]
        nearest = httpx.post(f"{base}/nearest", json={"texts": ["is shipping free"]}, timeout=60)
        assert nearest.status_code == 200, nearest.text
        assert nearest.json()["results"][0]["nearest_label"] == "price"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
