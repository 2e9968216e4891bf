"""The default text encoder: exact fused fp32 ONNX, and no torch on the default index and search paths.

The import check runs in a fresh interpreter (a subprocess) so that what this test process already
imported cannot hide or fake a heavy import: after ``jointspace index`` and ``jointspace search`` run
there, ``sys.modules`` must hold neither torch nor sentence-transformers.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jointspace
from jointspace.encoders import encoder, load_encoder
from jointspace.encoders.minilm import STATE_FILE
from jointspace.encoders.minilm_build import built_model
from jointspace.evaluate.datasets import wordnet_synsets

HEAVY = ("torch", "sentence_transformers", "transformers")
SRC = str(Path(jointspace.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """Real WordNet definitions of mixed lengths (2 to 60+ tokens) and one long enough to be truncated."""
    synsets = wordnet_synsets()
    random.Random(11).shuffle(synsets)
    texts = [s.definition for s in synsets[:80]]
    return texts + [" ".join(s.definition for s in synsets[80:120])]


@pytest.fixture(scope="module")
def torch_vectors(sentences: list[str]) -> np.ndarray:
    return encoder("minilm", backend="torch").encode(sentences)


def test_default_is_fused_onnx_and_matches_torch(sentences: list[str], torch_vectors: np.ndarray) -> None:
    enc = encoder("minilm")
    assert enc.backend == "onnx" and enc.onnx_model == "fused"
    vectors = enc.encode(sentences)
    cos = np.einsum("ij,ij->i", vectors, torch_vectors)
    assert cos.mean() >= 0.9999 and cos.min() >= 0.9995


def test_default_vectors_do_not_depend_on_the_batch(sentences: list[str]) -> None:
    enc = encoder("minilm")
    together = enc.encode(sentences, batch_size=64)
    for i in (0, 7, len(sentences) - 1):  # alone vs inside a batch of longer and shorter ones
        alone = enc.encode([sentences[i]])[0]
        assert float(alone @ together[i]) >= 0.9999


def run_fresh(code: str, tmp_path: Path) -> list[str]:
    """Run ``code`` in a new interpreter; it returns the heavy modules it ended up importing."""
    report = tmp_path / "modules.json"
    script = code + (f"\nimport json, sys\nopen({str(report)!r}, 'w').write(json.dumps(sorted("
                     f"m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n")
    env = {**os.environ, "PYTHONPATH": SRC, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text())


def cli(*args: str) -> str:
    """Python code running ``jointspace ARGS`` in-process (the console script does the same)."""
    return ("import sys\nfrom jointspace.cli import app\n"
            f"sys.argv = ['jointspace', *{list(args)!r}]\n"
            "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n")


def test_default_paths_never_import_torch(tmp_path: Path, sentences: list[str]) -> None:
    built_model("fused")  # the one-time build (which needs torch) happens here, not in the checked process
    data = tmp_path / "glosses.jsonl"
    data.write_text("".join(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(sentences[:60])))
    col = tmp_path / "col"
    assert run_fresh("import jointspace", tmp_path) == []
    assert run_fresh("import jointspace\nv = jointspace.encoder('minilm').encode(['a small dog'])\n"
                     "assert v.shape == (1, 384)", tmp_path) == []
    assert run_fresh(cli("index", str(data), "--out", str(col)), tmp_path) == []
    assert run_fresh(cli("search", str(col), sentences[3], "--json"), tmp_path) == []
    asked = run_fresh("import jointspace\njointspace.encoder('minilm', backend='torch').encode(['a dog'])", tmp_path)
    assert "torch" in asked and "sentence_transformers" in asked  # the check does see torch when it is there
    hits = jointspace.Collection.open(col).search(sentences[3], k=1)
    assert hits[0].id == "s3" and hits[0].score >= 0.9999


def test_collection_saved_with_the_old_torch_default_opens_compatible(tmp_path: Path,
                                                                       sentences: list[str]) -> None:
    col = jointspace.Collection.create(tmp_path / "old", encoder=encoder("minilm", backend="torch"))
    col.add([{"id": f"s{i}", "text": t} for i, t in enumerate(sentences[:40])])
    col.close()
    (tmp_path / "old" / "encoder" / STATE_FILE).unlink()  # what a collection saved before this version holds
    reopened = jointspace.Collection.open(tmp_path / "old")
    assert reopened.encoder.backend == "onnx" and reopened.encoder.onnx_model == "fused"
    for i in (0, 9, 33):
        hit = reopened.search(sentences[i], k=1)[0]
        assert hit.id == f"s{i}" and hit.score >= 0.9999  # query by onnx, stored vector by torch
    explicit = tmp_path / "explicit"
    encoder("minilm", backend="torch").save(explicit)  # asked for now: it stays torch
    assert load_encoder(explicit).backend == "torch"
