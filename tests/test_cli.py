"""The CLI end to end on a small real sample (WordNet), as a user runs it: the installed command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def jointspace(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("jointspace") or str(Path(sys.executable).parent / "jointspace")
    result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"jointspace {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def data_file(tmp_path_factory, wordnet_records) -> Path:
    path = tmp_path_factory.mktemp("data") / "glosses.jsonl"
    lines = [json.dumps({"id": r["id"], "word": r["word"], "text": r["text"], "year": 1900 + r["rank"]})
             for r in wordnet_records[:120]]
    lines.insert(5, "{not json")
    lines.insert(9, json.dumps({"id": "empty", "text": ""}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_index_search_info_with_minilm(tmp_path, data_file, wordnet_records) -> None:
    out = tmp_path / "col"
    result = jointspace("index", str(data_file), "--out", str(out), "--text", "text", "--meta", "word",
                        "--meta", "year")
    assert "120 added" in result.stderr and "2 skipped" in result.stderr
    assert "line 6" in result.stderr and "id 'empty'" in result.stderr
    target = wordnet_records[17]
    hits = json.loads(jointspace("search", str(out), target["text"], "-k", "3", "--json").stdout)
    assert hits[0]["id"] == target["id"] and set(hits[0]) == {"id", "score", "fields"}
    assert hits[0]["fields"]["word"] == target["word"]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    filtered = json.loads(jointspace("search", str(out), "animal", "-k", "50", "--where", "year >= 1960",
                                     "--json").stdout)
    assert len(filtered) == 50 and all(h["fields"]["year"] >= 1960 for h in filtered)
    info = json.loads(jointspace("info", str(out), "--json").stdout)
    assert info["count"] == 120 and info["encoder"]["dim"] == 384 and info["bytes_on_disk"] > 120 * 384 * 4
    table = jointspace("search", str(out), "a large wild cat").stdout
    assert "score" in table
    # indexing the same file again upserts: the count stays
    again = jointspace("index", str(data_file), "--out", str(out), "--text", "text")
    assert "120 already stored" in " ".join(again.stderr.split())  # same content: nothing encoded again


def test_index_with_tfidf_saves_the_fitted_encoder(tmp_path, data_file, wordnet_records) -> None:
    out = tmp_path / "tf"
    jointspace("index", str(data_file), "--out", str(out), "--encoder", "tfidf")
    from jointspace import Collection

    with Collection.open(out) as col:  # the fitted state is committed in items.sqlite (one commit point)
        assert col.encoder.is_fitted and len(col.encoder.vocabulary_) > 100
    target = wordnet_records[3]
    hits = json.loads(jointspace("search", str(out), target["text"], "--json").stdout)
    assert hits[0]["id"] == target["id"]


def test_clear_errors_without_tracebacks(tmp_path) -> None:
    result = jointspace("search", str(tmp_path / "nothing"), "x", check=False)
    assert result.returncode == 1 and "no such collection" in result.stderr
    assert "Traceback" not in result.stderr
    result = jointspace("search", str(tmp_path), "x", "--where", "year >>= 1", check=False)
    assert result.returncode == 1


def test_help_everywhere() -> None:
    for command in ([], ["index"], ["search"], ["info"], ["demo"], ["evaluate", "retrieval"]):
        assert "Usage" in jointspace(*command, "--help").stdout
