"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis): valid and invalid requests alike, against a
real server on 127.0.0.1 with writes enabled; no request may get a 5xx, a stack trace or a non-JSON error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from server_support import ThreadedServer, text_collection

from jointspace.server import ServerSettings, create_app

TOKEN = "fuzzing-token-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "texts"
    text_collection(path).close()
    with ThreadedServer(create_app(path, ServerSettings(token=TOKEN, max_records=20, request_timeout=20))) as srv:
        yield srv


def _operations(url: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_breaks_the_server(server: ThreadedServer, mode: GenerationMode) -> None:
    """Each operation of /openapi.json gets a bounded number of generated requests (valid, then invalid ones)."""
    operations = _operations(server.url)
    assert {"/search", "/search/upload", "/get", "/similar", "/add", "/upsert", "/delete"} <= {
        op.path for op in operations}
    fuzzed = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            fuzzed.append((case.method, case.path))
            response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            where = f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
            assert response.status_code < 500, where
            assert "Traceback" not in response.text, where
            if response.status_code >= 400:
                body = response.json()
                assert body["status"] == response.status_code and body["error"], where

        try:
            check()
        except Unsatisfiable:  # no invalid request exists for it (e.g. /health takes no input)
            assert mode is GenerationMode.NEGATIVE
    assert len(set(fuzzed)) >= (len(operations) if mode is GenerationMode.POSITIVE else 7), sorted(set(fuzzed))


def test_the_server_is_still_consistent_after_fuzzing(server: ThreadedServer) -> None:
    info = httpx.get(server.url + "/info").json()
    assert httpx.get(server.url + "/health").json() == {"status": "ok", "count": info["count"]}
    hits = httpx.get(server.url + "/search", params={"q": "red apple", "k": 3}).json()["hits"]
    assert all(isinstance(h["score"], float) for h in hits)
