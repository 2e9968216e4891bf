"""The HTTP API, against real servers on 127.0.0.1 (uvicorn in a thread, and `jointspace serve` in a process)."""

from __future__ import annotations

import asyncio
import io
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from server_support import ThreadedServer, draw_image, free_port, image_collection, text_collection

from jointspace import Collection
from jointspace.server import ServerSettings, create_app
from jointspace.server.state import in_thread

TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLI = [sys.executable, "-c", "from jointspace.cli import app; app()"]


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("server") / "texts"
    text_collection(path).close()
    return path


@pytest.fixture(scope="module")
def api(text_dir: Path) -> Iterator[httpx.Client]:
    """A writable server (token configured) over the text collection."""
    with ThreadedServer(create_app(text_dir, ServerSettings(token=TOKEN, max_records=50))) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def readonly(text_dir: Path) -> Iterator[httpx.Client]:
    with ThreadedServer(create_app(text_dir)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    path = tmp_path_factory.mktemp("server") / "images"
    image_collection(path).close()
    with ThreadedServer(create_app(path)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def png_bytes(colour: str, tmp_path: Path) -> bytes:
    return draw_image(tmp_path / f"query-{colour}.png", colour).read_bytes()


# -- reading -----------------------------------------------------------------------------------------------
def test_health_and_info(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok", "count": 8}
    info = api.get("/info").json()
    assert info["encoder"]["name"] == "tfidf" and info["fields"] == ["text"]
    assert info["modalities"] == ["text"] and info["writable"] is True and info["max_k"] == 100


def test_search_by_text_get_and_post(api: httpx.Client) -> None:
    out = api.get("/search", params={"q": "red apple", "k": 3}).json()
    assert out["modality"] == "text" and out["k"] == 3 and len(out["hits"]) == 3
    assert out["hits"][0]["id"] == "apple"
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    posted = api.post("/search", json={"query": "red apple", "k": 3}).json()
    assert [h["id"] for h in posted["hits"]] == [h["id"] for h in out["hits"]]


def test_search_matches_the_python_api(api: httpx.Client, text_dir: Path) -> None:
    with Collection.open(text_dir) as col:
        expected = [(h.id, round(h.score, 5)) for h in col.search("green fruit", k=4, where={"year": {"$lte": 2004}})]
    out = api.post("/search", json={"query": "green fruit", "k": 4, "where": {"year": {"$lte": 2004}}}).json()
    assert [(h["id"], round(h["score"], 5)) for h in out["hits"]] == expected
    text_where = api.get("/search", params={"q": "green fruit", "k": 4, "where": "year <= 2004"}).json()
    assert [h["id"] for h in text_where["hits"]] == [e[0] for e in expected]


def test_hits_carry_safe_media_urls_that_serve(api: httpx.Client) -> None:
    hits = {h["id"]: h for h in api.get("/search", params={"q": "apple bell note", "k": 8}).json()["hits"]}
    assert hits["apple"]["media"] == [{"field": "image", "kind": "image", "url": "/media/photos/apple.png"}]
    assert hits["bell"]["media"][0]["kind"] == "audio" and hits["bell"]["fields"]["transcript"] == "ding"
    assert hits["plain"]["media"] == []
    image = api.get("/media/photos/apple.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert api.get("/media/clips/bell.wav").headers["content-type"] in ("audio/x-wav", "audio/wav")


@pytest.mark.parametrize("path", ["/media/../manifest.json", "/media/%2e%2e/items.sqlite", "/media/..%2fitems.sqlite",
                                  "/media//etc/passwd", "/media/photos/../../manifest.json", "/media/nothere.png",
                                  "/media/photos/apple.png%00.txt", "/media/C:/windows.png"])
def test_media_paths_never_leave_the_media_folder(api: httpx.Client, path: str) -> None:
    port = httpx.URL(str(api.base_url)).port
    assert port is not None
    reply = _raw_request(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    assert reply.split(b"\r\n", 1)[0] in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 400 Bad Request"), reply[:200]
    assert b'"error"' in reply and b"format" not in reply and b"SQLite" not in reply


def test_files_outside_the_media_folder_get_no_url(tmp_path: Path) -> None:
    outside = draw_image(tmp_path / "secret.png", "red")
    col = Collection.create(tmp_path / "c", encoder="tfidf", fields=["text"])
    (tmp_path / "c" / "media").mkdir()
    (tmp_path / "c" / "media" / "link.png").symlink_to(outside)
    col.add([{"id": "a", "text": "red one", "image": str(outside)}, {"id": "b", "text": "red two", "image": "link.png"},
             {"id": "c", "text": "red three", "image": "../../secret.png"}])
    with ThreadedServer(create_app(col)) as server, httpx.Client(base_url=server.url) as client:
        hits = client.get("/search", params={"q": "red"}).json()["hits"]
        assert len(hits) == 3 and all(h["media"] == [] for h in hits)
        assert client.get("/media/link.png").status_code == 404


def test_get_and_similar(api: httpx.Client) -> None:
    item = api.get("/get", params={"id": "car"}).json()
    assert item["id"] == "car" and item["fields"]["colour"] == "red" and item["media"][0]["url"].endswith("car.png")
    similar = api.get("/similar", params={"id": "car", "k": 3}).json()
    ids = [h["id"] for h in similar["hits"]]
    assert "car" not in ids and ids[0] == "apple" and len(ids) == 3  # "a red ..." shares the most words
    assert api.post("/similar", json={"id": "car", "k": 3}).json()["hits"] == similar["hits"]
    missing = api.get("/get", params={"id": "nope"})
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]
    assert "/" not in missing.json()["error"]  # the server's folders are not revealed
    assert api.get("/similar", params={"id": "nope"}).status_code == 404


@pytest.mark.parametrize("params", [{"q": "red", "k": 0}, {"q": "red", "k": 101}, {"q": "red", "k": "many"},
                                    {"q": ""}, {}, {"q": "x" * 2001}])
def test_bad_search_parameters_are_clear_json_errors(api: httpx.Client, params: dict[str, object]) -> None:
    response = api.get("/search", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422 and body["error"] and "Traceback" not in response.text


def test_blank_query_and_bad_filter(api: httpx.Client) -> None:
    blank = api.get("/search", params={"q": "   "})  # the schema says so too (pattern \S)
    assert blank.status_code == 422 and "q: empty query" in blank.json()["error"]
    bad = api.get("/search", params={"q": "red", "where": "year is recent"})
    assert bad.status_code == 400 and "cannot read the filter" in bad.json()["error"]
    nested = api.post("/search", json={"query": "red", "where": {"year": {"$in": [{"a": 1}]}}})
    assert nested.status_code == 422


# -- writing -----------------------------------------------------------------------------------------------
def test_readonly_server_refuses_writes(readonly: httpx.Client) -> None:
    response = readonly.post("/add", json={"records": [{"id": "new", "text": "hello"}]}, headers=AUTH)
    assert response.status_code == 403 and "read-only" in response.json()["error"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}])
def test_writes_without_the_token_get_401(api: httpx.Client, headers: dict[str, str]) -> None:
    for path, body in (("/add", {"records": [{"id": "z", "text": "zebra"}]}), ("/delete", {"ids": ["apple"]})):
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert api.get("/get", params={"id": "apple"}).status_code == 200
    assert api.get("/get", params={"id": "z"}).status_code == 404


def test_add_upsert_delete_with_the_token(api: httpx.Client) -> None:
    added = api.post("/add", json={"records": [{"id": "kiwi", "text": "a clear sky, a tone and a picture"},
                                               {"id": "apple", "text": "duplicate"}, {"text": "no id"},
                                               {"id": "empty", "text": "  "}]}, headers=AUTH).json()
    assert added["added"] == 1 and added["count"] == 9
    assert {s["item"] for s in added["skipped"]} == {"id 'apple'", "record without id", "id 'empty'"}
    assert api.get("/search", params={"q": "sky tone picture", "k": 1}).json()["hits"][0]["id"] == "kiwi"
    # words the fitted tfidf knows (a text with none gets an all-zero vector, which is refused)
    kiwi = {"id": "kiwi", "text": "a kiwi bird by the pond, green as a frog"}
    upserted = api.post("/upsert", json={"records": [kiwi]}, headers=AUTH).json()
    assert upserted["updated"] == 1 and api.get("/get", params={"id": "kiwi"}).json()["fields"]["text"].endswith("frog")
    deleted = api.post("/delete", json={"ids": ["kiwi", "ghost"]}, headers=AUTH).json()
    assert deleted["deleted"] == 1 and deleted["skipped"] == [{"item": "id 'ghost'", "reason": "no such item"}]
    assert deleted["count"] == 8 and api.get("/get", params={"id": "kiwi"}).status_code == 404


def test_write_limits(api: httpx.Client) -> None:
    many = api.post("/add", json={"records": [{"id": f"n{i}", "text": "x"} for i in range(51)]}, headers=AUTH)
    assert many.status_code == 422 and "at most 50" in many.json()["error"]
    nan = api.post("/add", content=b'{"records": [{"id": "n", "text": "t", "v": NaN}]}',
                   headers={**AUTH, "Content-Type": "application/json"})
    assert nan.status_code == 422 and "NaN" in nan.json()["error"]
    broken = api.post("/add", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert broken.status_code == 422


# -- uploads -----------------------------------------------------------------------------------------------
def test_upload_routes_by_content(images: httpx.Client, tmp_path: Path) -> None:
    out = images.post("/search/upload", files={"file": ("q.png", png_bytes("green", tmp_path), "image/png")},
                      data={"k": "2"}).json()
    assert out["modality"] == "image" and out["query"] == "q.png"
    assert {h["id"] for h in out["hits"]} == {"green-circle", "green-square"}
    assert out["hits"][0]["media"][0]["url"].startswith("/media/green-")
    # the name and declared type do not matter, the bytes do (a JPEG named .txt sent as octet-stream)
    buf = io.BytesIO()
    from PIL import Image

    Image.open(io.BytesIO(png_bytes("blue", tmp_path))).convert("RGB").save(buf, "JPEG")
    jpeg = images.post("/search/upload", files={"file": ("x.txt", buf.getvalue(), "application/octet-stream")})
    assert jpeg.json()["hits"][0]["id"].startswith("blue-")
    assert images.get("/info").json()["modalities"] == ["image"]
    text = images.get("/search", params={"q": "blue"})
    assert text.status_code == 400 and "not text" in text.json()["error"]


@pytest.mark.parametrize(("name", "data", "mime", "status", "words"), [
    ("a.png", b"", "image/png", 400, "empty"),
    ("fake.png", b"just some words, not a picture", "image/png", 415, "declared as image/png"),
    ("noise.bin", bytes(range(256)) * 8, "application/octet-stream", 415, "unrecognised file content"),
    ("trunc.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png", 400, "trunc.png: cannot be read as image/png"),
])
def test_bad_uploads(images: httpx.Client, name: str, data: bytes, mime: str, status: int, words: str) -> None:
    response = images.post("/search/upload", files={"file": (name, data, mime)})
    assert response.status_code == status and words in response.json()["error"], response.text


def test_image_upload_to_a_text_collection_is_415(api: httpx.Client, tmp_path: Path) -> None:
    response = api.post("/search/upload", files={"file": ("cat.png", png_bytes("red", tmp_path), "image/png")})
    assert response.status_code == 415
    assert "cannot be searched by image" in response.json()["error"] and "tfidf" in response.json()["error"]
    wav = api.post("/search/upload", files={"file": ("a.wav", b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 32, "")})
    assert wav.status_code == 415 and "audio/wav" in wav.json()["error"]
    text = api.post("/search/upload", files={"file": ("q.txt", b"red apple", "text/plain")}).json()
    assert text["modality"] == "text" and text["hits"][0]["id"] == "apple"


def test_upload_over_the_limit_is_413(text_dir: Path) -> None:
    app = create_app(text_dir, ServerSettings(max_upload_bytes=64 * 1024))
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as client:
        response = client.post("/search/upload", files={"file": ("big.txt", b"word " * 20_000, "text/plain")})
        assert response.status_code == 413 and "65,536 bytes" in response.json()["error"]

        def stream() -> Iterator[bytes]:  # no Content-Length: the limit must be found while streaming
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
            for _ in range(100):
                yield b"word " * 2000

        chunked = client.post("/search/upload", content=stream(),
                              headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert chunked.status_code == 413


# -- safety ------------------------------------------------------------------------------------------------
def test_security_headers_and_host_check(api: httpx.Client) -> None:
    page = api.get("/")
    assert page.status_code == 200 and "<title>jointspace search</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff" and "server" not in page.headers
    rebound = api.get("/search", params={"q": "red"}, headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 400 and "not served here" in rebound.json()["error"]
    assert api.get("/health", headers={"Host": "localhost"}).status_code == 200
    assert api.get("/docs").status_code == 404  # no third-party CDN page


def _raw_request(port: int, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait + 5) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_request_timeouts_and_internal_errors_are_json(text_dir: Path) -> None:
    def trouble(state: object) -> APIRouter:
        router = APIRouter()

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret internals /etc/passwd")

        @router.get("/slow")
        async def slow() -> None:
            await in_thread(lambda: time.sleep(2))

        return router

    app = create_app(text_dir, ServerSettings(request_timeout=0.5), extra_routers=[trouble])
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as client:
        boom = client.get("/boom")
        assert boom.status_code == 500 and boom.json() == {
            "error": "internal server error (details are in the server's log)", "status": 500}
        started = time.monotonic()
        slow = client.get("/slow")
        assert slow.status_code == 504 and time.monotonic() - started < 1.8
        assert "trouble" in client.get("/info").json()["capabilities"]
        # a body that stops arriving (slowloris) is cut off
        reply = _raw_request(server.port, b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                          b"\r\nContent-Length: 100\r\n\r\n", b'{"query": ')
        assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in reply


def test_task_routers_appear_only_with_a_model(api: httpx.Client, text_dir: Path) -> None:
    assert api.post("/classify", json={"texts": ["a"]}).status_code == 404
    assert "/classify" not in api.get("/openapi.json").json()["paths"]

    class NearestColour:
        """Labels a text by the colour of its nearest item in the collection (a real nearest-example model)."""

        def __init__(self, col: Collection) -> None:
            self.col = col

        def predict(self, texts: list[str]) -> list[dict[str, object]]:
            hits = [self.col.search(t, k=1)[0] for t in texts]
            return [{"label": h.fields.get("colour", "unknown"), "score": h.score, "neighbours": [h.id]} for h in hits]

    col = Collection.open(text_dir)
    with ThreadedServer(create_app(col, models={"classify": NearestColour(col)})) as server, \
            httpx.Client(base_url=server.url) as client:
        capabilities = client.get("/info").json()["capabilities"]
        assert "classify" in capabilities and "nearest" not in capabilities
        out = client.post("/classify", json={"texts": ["a ripe banana", "the sea"]}).json()["results"]
        assert [r["label"] for r in out] == ["yellow", "blue"] and out[0]["neighbours"] == ["banana"]
        assert client.post("/classify", json={"texts": [" "]}).status_code == 400
        assert client.post("/nearest", json={"texts": ["a"]}).status_code == 404


def test_recommend_route_uses_the_collection(api: httpx.Client) -> None:
    """/recommend mirrors Collection.recommend: the liked item is excluded and each hit says why."""
    out = api.post("/recommend", json={"liked": ["banana"], "k": 3})
    assert out.status_code == 200, out.text
    hits = out.json()["hits"]
    assert len(hits) == 3 and "banana" not in {h["id"] for h in hits}
    assert all("why" in h for h in hits)
    assert api.post("/recommend", json={"liked": ["no-such-id"], "k": 3}).status_code in (400, 404)


# -- the command line, in its own process ------------------------------------------------------------------
def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _stream_until_answered(port: int, head: bytes, total: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """Send a chunked body of ``total`` bytes, stopping as soon as the server answers; (reply, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent, block = 0, b"\x00" * chunk
    try:
        sock.sendall(head)
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(b"%x\r\n" % chunk + block + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                data = sock.recv(65536)
                if not data:
                    break
                reply += data
        except ConnectionResetError:
            pass
        return reply, sent
    finally:
        sock.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_cli_serve_read_write_and_a_100mb_upload(text_dir: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([*CLI, "serve", str(text_dir), "--port", str(port),
                             "--token-file", str(token_file), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()  # type: ignore
            time.sleep(0.2)
        assert "jointspace search" in httpx.get(url + "/").text
        record = {"records": [{"id": "cli", "text": "a red car on the road, written through the command line"}]}
        assert httpx.post(url + "/upsert", json=record).status_code == 401
        assert httpx.post(url + "/upsert", json=record, headers=AUTH).json()["added"] == 1
        assert httpx.post(url + "/delete", json={"ids": ["cli"]}, headers=AUTH).json()["deleted"] == 1

        # declared 100 MB: refused before a byte of the body is read
        head = (f"POST /search/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n").encode()
        reply = _raw_request(port, head + b"Content-Length: 104857600\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 413")
        # 100 MB streamed without a length: refused once past the limit, without the server's memory growing
        before = _peak_rss_kib(proc.pid)
        part = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
                b"Content-Type: image/png\r\n\r\n")
        reply, sent = _stream_until_answered(
            port, head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(part) + part + b"\r\n", 100 << 20)
        grown_mib = (_peak_rss_kib(proc.pid) - before) / 1024
        assert reply.startswith(b"HTTP/1.1 413") and b"larger than the limit" in reply, reply[:300]
        assert sent < 60 << 20  # stopped near the 25 MiB limit, not after all 100 MB
        assert grown_mib < 30, f"server peak memory grew by {grown_mib:.0f} MiB"
        assert httpx.get(url + "/health").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_serve_refuses_a_short_token(text_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([*CLI, "serve", str(text_dir), "--token-file",
                           str(tmp_path / "token")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "at least 16 characters" in done.stderr


def test_concurrent_searches_all_succeed(api: httpx.Client) -> None:
    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=str(api.base_url)) as client:
            queries = ["red", "green fruit", "blue sea", "banana", "bell tone", "small frog"] * 8
            responses = await asyncio.gather(*(client.get("/search", params={"q": q, "k": 5}) for q in queries))
            return [r.status_code for r in responses]

    assert set(asyncio.run(run())) == {200}
