"""The HTTP server under hostile or unlucky clients, with real sockets: headers that never finish, writes
that run past the timeout (answered with what happened: 200 committed or 504 rolled back, never both),
a busy collection (503 + Retry-After), and CORS, off unless asked for."""

from __future__ import annotations

import inspect
import select
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import APIRouter
from server_support import ThreadedServer, free_port, text_collection
from typer.testing import CliRunner

from jointspace import Collection
from jointspace.encoders import register
from jointspace.encoders.base import Encoder
from jointspace.errors import Busy, DeadlineExceeded, JointspaceError
from jointspace.server import ServerSettings, create_app

TOKEN = "hardening-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HAS_DEADLINE = "deadline" in inspect.signature(Collection.add).parameters
needs_deadline = pytest.mark.xfail(not HAS_DEADLINE, reason="needs Collection deadline", strict=False)


class PacedEncoder(Encoder):
    """Words hashed into 64 dimensions, taking ``pause`` seconds per batch: a real encoder, slow on purpose."""

    name = "test-paced"
    modality = "text"

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause

    @property
    def dim(self) -> int:
        return 64

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        time.sleep(self.pause)
        out = np.zeros((len(items), self.dim), np.float32)
        for i, text in enumerate(items):
            for word in str(text).lower().split():
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out + 1e-3


register("test-paced", PacedEncoder)


@pytest.fixture
def paced(tmp_path: Path) -> Iterator[tuple[Collection, PacedEncoder]]:
    encoder = PacedEncoder()
    col = Collection.create(tmp_path / "paced", encoder=encoder, fields=["text"])
    col.add([{"id": f"seed{i}", "text": f"seed text number {i}"} for i in range(5)])
    yield col, encoder
    col.close()


# -- headers that never finish ------------------------------------------------------------------------------
SERVE = """
import sys
from jointspace.server import ServerSettings, create_app, serve
serve(create_app(sys.argv[1], ServerSettings(header_timeout=float(sys.argv[3]))), port=int(sys.argv[2]),
      log_level="warning")
"""


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the server process did not start")


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed this connection (EOF or reset), without blocking."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        while True:
            data = sock.recv(65536)
            if not data:
                return True
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_slow_header_clients_are_dropped_within_the_header_timeout(tmp_path: Path) -> None:
    """50 clients against a real server process: 20 send nothing, 20 trickle a request line and headers that
    never end, 10 finish one request and then start another that never ends; all are closed by the server
    soon after the header timeout, none before it, while a normal client is served throughout."""
    text_collection(tmp_path / "texts").close()
    port, header_timeout = free_port(), 1.5
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(tmp_path / "texts"), str(port), str(header_timeout)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sockets: list[socket.socket] = []
    try:
        _wait_for(port, process)
        started = time.monotonic()
        for i in range(50):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.setblocking(False)
            if 20 <= i < 40:
                sock.send(b"GET /search?q=red HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            elif i >= 40:
                sock.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHo")
            sockets.append(sock)
        closed_at: dict[int, float] = {}
        trickled = 0
        while len(closed_at) < len(sockets) and time.monotonic() - started < header_timeout + 8:
            for i, sock in enumerate(sockets):
                if i in closed_at:
                    continue
                if _closed_by_server(sock):
                    closed_at[i] = time.monotonic() - started
                elif 20 <= i < 40:
                    try:
                        sock.send(b"X")  # one more header byte: never a whole line
                        trickled += 1
                    except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                        pass
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            time.sleep(0.25)
        assert len(closed_at) == 50, f"{50 - len(closed_at)} slow connections still open"
        print(f"header timeout {header_timeout} s: 50 slow connections closed after "
              f"{min(closed_at.values()):.2f}-{max(closed_at.values()):.2f} s ({trickled} bytes trickled)")
        assert trickled > 20
        assert min(closed_at.values()) >= header_timeout * 0.8, sorted(closed_at.values())[:3]
        assert max(closed_at.values()) <= header_timeout + 3, sorted(closed_at.values())[-3:]  # slack: a busy CI
    finally:
        for sock in sockets:
            sock.close()
        process.terminate()
        process.wait(10)


def test_a_whole_request_sent_slowly_within_the_timeout_is_served(tmp_path: Path) -> None:
    text_collection(tmp_path / "texts").close()
    app = create_app(tmp_path / "texts", ServerSettings(header_timeout=2.0))
    with ThreadedServer(app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for part in (b"GET /health HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(part)
            time.sleep(0.3)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in reply


# -- writes and the timeout ---------------------------------------------------------------------------------
@needs_deadline
def test_a_write_past_the_timeout_is_rolled_back_and_answered_504(paced: tuple[Collection, PacedEncoder]) -> None:
    col, encoder = paced
    app = create_app(col, ServerSettings(token=TOKEN, request_timeout=0.6), warm_up=False)
    encoder.pause = 1.2  # the encoding alone takes longer than the request may
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        started = time.monotonic()
        late = client.post("/add", json={"records": [{"id": "late", "text": "too slow to store"}]}, headers=AUTH)
        took = time.monotonic() - started
        encoder.pause = 0.0
        assert late.status_code == 504, late.text
        assert late.json()["status"] == 504 and "rolled back" in late.json()["error"]
        assert client.get("/get", params={"id": "late"}).status_code == 404
        assert client.get("/health").json()["count"] == 5
        assert took < 5


def test_a_write_answers_what_happened_never_504_and_committed(paced: tuple[Collection, PacedEncoder]) -> None:
    """Timeouts on both sides of the write's length: a 200 is always stored, a 504 never is."""
    col, encoder = paced
    app = create_app(col, ServerSettings(token=TOKEN, request_timeout=0.5), warm_up=False)
    outcomes = []
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for i, pause in enumerate([0.0, 0.2, 0.35, 0.45, 0.55, 0.7, 0.9]):
            encoder.pause = pause
            item = {"id": f"w{i}", "text": f"write number {i}"}
            verb = "upsert" if i % 2 else "add"
            answer = client.post(f"/{verb}", json={"records": [item]}, headers=AUTH)
            encoder.pause = 0.0
            stored = client.get("/get", params={"id": item["id"]}).status_code == 200
            outcomes.append((pause, answer.status_code, stored))
            assert answer.status_code in (200, 504), answer.text
            assert stored == (answer.status_code == 200), outcomes
        deleted = client.post("/delete", json={"ids": ["seed0"]}, headers=AUTH)
        assert deleted.status_code == 200 and client.get("/get", params={"id": "seed0"}).status_code == 404
    assert outcomes[0][1] == 200
    if HAS_DEADLINE:
        assert outcomes[-1][1] == 504, outcomes


def test_a_write_while_the_collection_is_busy_gets_503(paced: tuple[Collection, PacedEncoder]) -> None:
    col, encoder = paced
    app = create_app(col, ServerSettings(token=TOKEN, request_timeout=1.0), warm_up=False)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        encoder.pause = 2.0
        first: list[httpx.Response] = []
        writer = threading.Thread(target=lambda: first.append(client.post(
            "/add", json={"records": [{"id": "slow", "text": "a slow write"}]}, headers=AUTH)))
        writer.start()
        time.sleep(0.3)  # the slow write holds the collection now
        with httpx.Client(base_url=server.url, timeout=30) as other:
            busy = other.post("/add", json={"records": [{"id": "second", "text": "waits its turn"}]}, headers=AUTH)
        writer.join(30)
        encoder.pause = 0.0
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1", busy.text
        assert "busy" in busy.json()["error"] and busy.json()["status"] == 503
        assert client.get("/get", params={"id": "second"}).status_code == 404
        assert first[0].status_code in (200, 504)
        assert (client.get("/get", params={"id": "slow"}).status_code == 200) == (first[0].status_code == 200)


def test_deadline_and_busy_errors_map_to_504_and_503(tmp_path: Path) -> None:
    text_collection(tmp_path / "texts").close()

    def raising(state: object) -> APIRouter:
        router = APIRouter()

        @router.get("/late")
        async def late() -> None:
            raise DeadlineExceeded("the write's deadline passed before it committed")

        @router.get("/busy")
        async def busy() -> None:
            raise Busy("another process is writing")

        return router

    assert issubclass(DeadlineExceeded, JointspaceError) and issubclass(Busy, JointspaceError)
    with ThreadedServer(create_app(tmp_path / "texts", extra_routers=[raising])) as server:
        late = httpx.get(server.url + "/late")
        assert late.status_code == 504 and late.json() == {
            "error": "the request took longer than the server's timeout and was rolled back "
                     "(the write's deadline passed before it committed)", "status": 504}
        busy = httpx.get(server.url + "/busy")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json() == {"error": "another process is writing", "status": 503}


# -- CORS ---------------------------------------------------------------------------------------------------
PREFLIGHT = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


def test_cors_is_off_unless_an_origin_is_given(tmp_path: Path) -> None:
    text_collection(tmp_path / "texts").close()
    with ThreadedServer(create_app(tmp_path / "texts")) as server:
        preflight = httpx.options(server.url + "/add", headers=PREFLIGHT)
        assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers
        plain = httpx.get(server.url + "/health", headers={"Origin": "http://app.example"})
        assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
    settings = ServerSettings(cors_origins=("http://app.example",))
    with ThreadedServer(create_app(tmp_path / "texts", settings)) as server:
        preflight = httpx.options(server.url + "/add", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        plain = httpx.get(server.url + "/health", headers={"Origin": "http://app.example"})
        assert plain.headers["access-control-allow-origin"] == "http://app.example"
        other = httpx.get(server.url + "/health", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        refused = httpx.options(server.url + "/add", headers={**PREFLIGHT, "Origin": "http://elsewhere.example"})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


def test_cli_serve_takes_cors_origins_and_refuses_bad_ones(tmp_path: Path) -> None:
    from jointspace.cli import app

    text_collection(tmp_path / "texts").close()
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "texts"), "--cors", "app.example/page"])
    assert result.exit_code != 0 and "CORS origin 'app.example/page'" in " ".join(result.output.split())
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", "from jointspace.cli import app; app()", "serve",
                                str(tmp_path / "texts"), "--port", str(port), "--cors", "http://app.example"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(port, process)
        preflight = httpx.options(f"http://127.0.0.1:{port}/search", headers=PREFLIGHT)
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    finally:
        process.terminate()
        process.wait(10)
