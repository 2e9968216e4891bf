"""End to end: the page in Debian's headless Chromium (driven by Playwright), against a real server on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import ThreadedServer, draw_image, image_collection, text_collection

from jointspace.server import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def text_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    col = text_collection(tmp_path_factory.mktemp("browser") / "texts")
    col.add([{"id": "<b>bold</b>", "text": "a red warning <img src=x onerror=alert(1)> in a note"}])
    with ThreadedServer(create_app(col)) as server:
        yield server.url


@pytest.fixture(scope="module")
def image_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ThreadedServer(create_app(image_collection(tmp_path_factory.mktemp("browser") / "images"))) as server:
        yield server.url


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def card_ids(page: Page) -> list[str]:
    return page.locator(".card .id").all_inner_texts()


def images_loaded(page: Page, selector: str, timeout: float = 10.0) -> bool:
    """Every image matching ``selector`` finished loading with real pixels (polled from Python: the page's
    content security policy forbids the string evaluation that Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)")
        if state and all(w >= 0 for w in state):
            return all(w > 0 for w in state)
        time.sleep(0.05)
    return False


def test_type_a_query_see_results_more_like_this_and_upload(page: Page, text_url: str, tmp_path: Path) -> None:
    page.goto(text_url + "/")
    expect(page.locator("#info")).to_contain_text("9 items")
    page.fill("#q", "red apple")
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    assert card_ids(page)[0] == "apple"
    assert "results for “red apple”" in page.inner_text("#status")
    first = page.locator(".card").first
    assert float(first.locator(".score").inner_text()) > 0
    assert first.locator(".text").inner_text() == "a red apple on a wooden table"
    assert images_loaded(page, ".card img")

    # item text is shown as text: markup in the data never becomes elements
    warning = page.locator(".card", has_text="a red warning")
    assert warning.count() == 1 and warning.locator(".id").inner_text() == "<b>bold</b>"
    assert page.locator(".card .text img, .card .id b").count() == 0

    # audio results get a player and their transcript
    page.fill("#q", "bell tone")
    page.press("#q", "Enter")
    expect(page.locator(".card .id").first).to_have_text("bell")
    bell = page.locator(".card").first
    assert bell.locator("audio").get_attribute("src") == "/media/clips/bell.wav"
    assert bell.locator(".transcript").inner_text() == "“ding”"

    # "more like this" on the first card
    page.locator(".card .more").first.click()
    expect(page.locator("#status")).to_contain_text("like bell")
    assert "bell" not in card_ids(page) and len(card_ids(page)) > 0

    # an image query on a text-only collection: a clear message, not a broken page
    page.set_input_files("#file", str(draw_image(tmp_path / "cat.png", "red")))
    page.wait_for_selector("#status.error")
    assert "cannot be searched by image" in page.inner_text("#status")
    assert page.locator(".card").count() == 0

    # a text file is a query by its words
    (tmp_path / "query.txt").write_text("green pear in a bowl")
    page.set_input_files("#file", str(tmp_path / "query.txt"))
    page.wait_for_selector(".card")
    assert card_ids(page)[0] == "pear"

    page.fill("#q", "red")
    page.press("#q", "Enter")
    page.wait_for_selector(".card img")
    assert images_loaded(page, ".card img")
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000


def test_upload_an_image_and_drop_one(page: Page, image_url: str, tmp_path: Path) -> None:
    page.goto(image_url + "/")
    expect(page.locator("#info")).to_contain_text("search by image")
    page.set_input_files("#file", str(draw_image(tmp_path / "green.png", "green")))
    page.wait_for_selector(".card")
    assert set(card_ids(page)[:2]) == {"green-circle", "green-square"}
    assert "like green.png" in page.inner_text("#status")
    assert images_loaded(page, "#query-preview img") and images_loaded(page, ".card img")

    # drag and drop a file onto the drop zone
    data = base64.b64encode(draw_image(tmp_path / "yellow.png", "yellow").read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(b64) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                      const dt = new DataTransfer();
                      dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'})); return dt; }""", data)
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    expect(page.locator("#status")).to_contain_text("like dropped.png")
    assert card_ids(page)[0].startswith("yellow-")

    # a text query on an image-only collection says why it cannot work
    page.fill("#q", "green")
    page.press("#q", "Enter")
    page.wait_for_selector("#status.error")
    assert "not text" in page.inner_text("#status")
