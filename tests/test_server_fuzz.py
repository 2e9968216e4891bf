"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis): valid and invalid requests alike, against a
real server on 127.0.0.1 with writes enabled, each answer validated by every schemathesis check (status
declared, body matching the declared schema, content type, headers, invalid data refused, valid data
accepted, unsupported methods, auth not ignored, no 5xx); and no stack trace or non-JSON error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from server_support import ThreadedServer, text_collection

from jointspace.server import ServerSettings, create_app

TOKEN = "fuzzing-token-0123456789abcdef"
# per operation and mode: bounded (under a minute for the file on a loaded machine); more for a deeper run
EXAMPLES = int(os.environ.get("JOINTSPACE_FUZZ_EXAMPLES", "10"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "texts"
    text_collection(path).close()
    with ThreadedServer(create_app(path, ServerSettings(token=TOKEN, max_records=20, request_timeout=20))) as srv:
        yield srv


# Valid by the schema yet refused, by design, and declared so: a `where` string is any text to the schema,
# but only the filter language parses (400 names what it cannot read); an uploaded file is any bytes, but
# only images, audio and text can be searched by (415) and only decodable ones embedded (400).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409"]
CONFIG = {"auth": {"openapi": {"HTTPBearer": {"bearer": TOKEN}}}, "operations": [
    {"include-path-regex": "^/(search|similar|recommend)$",
     "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
    {"include-path": "/search/upload",
     "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400", "415"]}}},
]}


def _operations(url: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(url + "/openapi.json", config=schemathesis.Config.from_dict(CONFIG))
    return [result.ok() for result in schema.get_all_operations()]


def all_checks() -> list:
    load_all_checks()
    return list(CHECKS.get_all())


def test_the_checks_are_the_full_set() -> None:
    names = {getattr(c, "__name__", type(c).__name__) for c in all_checks()}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
            "positive_data_acceptance", "unsupported_method", "ignored_auth"} <= names, sorted(names)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_breaks_the_server_or_the_schema(server: ThreadedServer, mode: GenerationMode) -> None:
    """Each operation of /openapi.json gets a bounded number of generated requests (valid, then invalid ones)."""
    operations = _operations(server.url)
    assert {"/search", "/search/upload", "/get", "/similar", "/add", "/upsert", "/delete"} <= {
        op.path for op in operations}
    checks = all_checks()
    fuzzed, statuses, writes_done = [], set(), []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            fuzzed.append((case.method, case.path))
            response = case.call_and_validate(base_url=server.url, checks=checks, timeout=30)
            statuses.add(response.status_code)
            if case.path in ("/add", "/upsert", "/delete") and response.status_code == 200:
                writes_done.append(case.path)
            where = f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
            assert "Traceback" not in response.text, where
            if response.status_code >= 400:
                body = response.json()
                assert body["status"] == response.status_code and body["error"], where

        try:
            check()
        except Unsatisfiable:  # no invalid request exists for it (e.g. /health takes no input)
            assert mode is GenerationMode.NEGATIVE
    assert len(set(fuzzed)) >= (len(operations) if mode is GenerationMode.POSITIVE else 7), sorted(set(fuzzed))
    assert max(statuses) < 500, statuses
    if mode is GenerationMode.POSITIVE:
        assert 200 in statuses and writes_done, (statuses, writes_done)  # the token got writes through
    if mode is GenerationMode.NEGATIVE:
        assert 422 in statuses  # the fuzzer did reach the validation path


def test_the_schema_declares_the_real_error_body(server: ThreadedServer) -> None:
    schema = httpx.get(server.url + "/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert set(schema["components"]["schemas"]["ErrorOut"]["required"]) == {"error", "status"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            declared = {int(code) for code in operation["responses"] if code != "200"}
            assert {400, 413, 503, 504} <= declared, (method, path, declared)
            for code in declared:
                body = operation["responses"][str(code)]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
    writes = schema["paths"]["/add"]["post"]["responses"]
    assert {401, 403, 408, 413, 422, 503, 504} <= {int(c) for c in writes}
    assert "Retry-After" in writes["503"]["headers"]
    assert "415" in schema["paths"]["/search/upload"]["post"]["responses"]
    assert "404" in schema["paths"]["/get"]["get"]["responses"]


def test_the_server_is_still_consistent_after_fuzzing(server: ThreadedServer) -> None:
    info = httpx.get(server.url + "/info").json()
    assert httpx.get(server.url + "/health").json() == {"status": "ok", "count": info["count"]}
    hits = httpx.get(server.url + "/search", params={"q": "red apple", "k": 3}).json()["hits"]
    assert all(isinstance(h["score"], float) for h in hits)
