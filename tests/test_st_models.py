"""encoder("sentence-transformers", model=...): a second, real model folder (MiniLM cut to 2 layers) and objects.

The small model is built here from the shipped all-MiniLM-L6-v2 weights (the first two transformer
layers kept), saved as a sentence-transformers folder, then indexed and searched through a Collection.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import jointspace
from jointspace.encoders.minilm import model_path
from jointspace.errors import JointspaceError
from jointspace.evaluate.datasets import wordnet_synsets


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    synsets = wordnet_synsets()
    random.Random(3).shuffle(synsets)
    return [s.definition for s in synsets[:80]]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A 2-layer MiniLM sentence-transformers folder (and the object it was saved from)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
    bert = model[0].auto_model
    bert.encoder.layer = bert.encoder.layer[:2]
    bert.config.num_hidden_layers = 2
    folder = tmp_path_factory.mktemp("models") / "minilm-2layers"
    model.save(str(folder))
    return folder, model


def test_folder_runs_on_onnx_and_matches_sentence_transformers(small_model, sentences: list[str]) -> None:
    folder, model = small_model
    enc = jointspace.encoder("sentence-transformers", model=str(folder))
    vectors = enc.encode(sentences)
    assert enc.backend_used == "onnx" and enc.dim == 384 and vectors.shape == (len(sentences), 384)
    ref = model.encode(sentences, normalize_embeddings=True, convert_to_numpy=True)
    cos = np.einsum("ij,ij->i", vectors, ref)
    assert cos.min() >= 0.9999
    full = jointspace.encoder("minilm").encode(sentences[:5])  # truly another model: 2 layers differ from 6
    assert np.einsum("ij,ij->i", vectors[:5], full).mean() < 0.99


def test_index_search_reopen_and_refuse_a_changed_model(small_model, sentences: list[str], tmp_path: Path) -> None:
    folder, _ = small_model
    col = jointspace.Collection.create(tmp_path / "col", encoder=jointspace.encoder("sentence-transformers",
                                                                                    model=folder))
    col.add([{"id": f"s{i}", "text": t} for i, t in enumerate(sentences)])
    hit = col.search(sentences[12], k=1)[0]
    assert hit.id == "s12" and hit.score >= 0.9999
    col.close()
    saved = json.loads((tmp_path / "col" / "encoder" / "encoder.json").read_text())
    assert saved["name"] == "sentence-transformers" and saved["params"]["model"] == str(folder.resolve())
    reopened = jointspace.Collection.open(tmp_path / "col")
    assert reopened.search(sentences[40], k=1)[0].id == "s40"
    reopened.close()

    changed = tmp_path / "changed"  # the same folder name, other weights: must be refused
    import shutil

    shutil.copytree(folder, changed)
    config = json.loads((changed / "sentence_bert_config.json").read_text())
    config["max_seq_length"] = 64
    (changed / "sentence_bert_config.json").write_text(json.dumps(config))
    saved["params"]["model"] = str(changed)
    reference = json.loads((tmp_path / "col" / "encoder" / "st-model.json").read_text())
    reference["folder"] = str(changed)
    (tmp_path / "col" / "encoder" / "st-model.json").write_text(json.dumps(reference))
    with pytest.raises(JointspaceError, match="differs from the one this collection was built with"):
        jointspace.Collection.open(tmp_path / "col")


def test_object_and_sentence_transformers_keywords(small_model, sentences: list[str]) -> None:
    folder, model = small_model
    enc = jointspace.encoder("sentence-transformers", model=model)
    one = enc.encode(sentences[0])
    assert one.shape == (384,)
    np.testing.assert_allclose(one, jointspace.encoder("sentence-transformers", model=folder).encode(sentences[0]),
                               atol=1e-5)
    many = enc.encode(sentences[:4], batch_size=2, show_progress_bar=False, normalize_embeddings=True,
                      convert_to_numpy=True)
    assert many.shape == (4, 384)
    as_list = enc.encode(sentences[:3], convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 3 and as_list[0].shape == (384,)
    import torch

    tensor = enc.encode(sentences[:2], convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == (2, 384)


def test_similarity_is_cosine_whatever_the_input() -> None:
    enc = jointspace.encoder("minilm")
    a = np.array([[3.0, 4.0], [0.0, 2.0]])
    b = [[6.0, 8.0], [-1.0, 0.0]]
    sim = enc.similarity(a, b)
    np.testing.assert_allclose(sim, [[1.0, -0.6], [0.8, 0.0]], atol=1e-6)
    v = enc.encode("a small dog")
    assert v.shape == (384,) and enc.similarity(v * 5, v).item() == pytest.approx(1.0, abs=1e-5)


def test_torch_backend_and_what_cannot_run_on_onnx(small_model, sentences: list[str], tmp_path: Path) -> None:
    folder, model = small_model
    torch_enc = jointspace.encoder("sentence-transformers", model=folder, backend="torch")
    onnx_enc = jointspace.encoder("sentence-transformers", model=folder)
    assert np.einsum("ij,ij->i", torch_enc.encode(sentences[:8]), onnx_enc.encode(sentences[:8])).min() >= 0.9999
    assert torch_enc.backend_used == "torch"
    no_tokenizer = tmp_path / "no-tokenizer"  # a folder without tokenizer.json: sentence-transformers runs it
    import shutil

    shutil.copytree(folder, no_tokenizer)
    (no_tokenizer / "tokenizer.json").unlink()
    auto = jointspace.encoder("sentence-transformers", model=no_tokenizer)
    assert auto.encode(sentences[:2]).shape == (2, 384) and auto.backend_used == "torch"
    with pytest.raises(JointspaceError, match="tokenizer.json"):
        jointspace.encoder("sentence-transformers", model=no_tokenizer, backend="onnx").encode(["a dog"])


def test_names_that_are_not_local_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(JointspaceError, match="never downloads"):
        jointspace.encoder("sentence-transformers", model="sentence-transformers/no-such-model-here").encode(["x"])
    with pytest.raises(JointspaceError, match="not a sentence-transformers model folder"):
        jointspace.encoder("sentence-transformers", model=str(tmp_path)).encode(["x"])
    with pytest.raises(JointspaceError, match="needs model"):
        jointspace.encoder("sentence-transformers").encode(["x"])
