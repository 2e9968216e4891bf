"""The onnx backend of minilm: same vectors as sentence-transformers on real sentences, and the contract."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from jointspace.encoders import encoder, load_encoder
from jointspace.encoders.minilm_build import built_model, models_dir, version_key
from jointspace.encoders.minilm_onnx import physical_cores
from jointspace.errors import ItemError, JointspaceError
from jointspace.evaluate.datasets import wordnet_synsets


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """80 real WordNet definitions, from 2 to 60+ tokens, plus a long one that must be truncated."""
    synsets = wordnet_synsets()
    random.Random(7).shuffle(synsets)
    texts = [s.definition for s in synsets[:80]]
    return texts + [" ".join(s.definition for s in synsets[80:120])]


@pytest.fixture(scope="module")
def torch_vectors(sentences: list[str]) -> np.ndarray:
    return encoder("minilm", backend="torch").encode(sentences)


@pytest.mark.parametrize("onnx_model", ["int8-row", "int8-all", "int8", "fused", "shipped"])
def test_cosine_to_torch_vectors(onnx_model: str, sentences: list[str], torch_vectors: np.ndarray) -> None:
    vectors = encoder("minilm", backend="onnx", onnx_model=onnx_model).encode(sentences, batch_size=32)
    assert vectors.shape == (len(sentences), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = np.einsum("ij,ij->i", vectors, torch_vectors)
    assert cos.mean() >= 0.99
    if onnx_model == "fused":  # a float model: the same numbers up to rounding
        assert cos.min() >= 0.9999
    elif onnx_model == "int8-row":  # per-row activation scales: close to exact
        assert cos.mean() >= 0.998 and cos.min() >= 0.99
    else:
        assert cos.min() >= 0.95


def test_order_and_batching_do_not_change_vectors(sentences: list[str]) -> None:
    enc = encoder("minilm-onnx", onnx_model="fused")
    whole = enc.encode(sentences[:40], batch_size=64)
    reversed_small = enc.encode(sentences[:40][::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(whole, reversed_small, atol=1e-5)
    one = enc.encode([sentences[5]])
    np.testing.assert_allclose(one[0], whole[5], atol=1e-5)


def test_int8_row_vectors_do_not_depend_on_the_batch(sentences: list[str]) -> None:
    """Per-row scales: a text alone, among longer ones, or among shorter ones gives the same vector.

    The dynamic per-batch int8 models do not (their activation scale is the batch's), which this test
    also shows, so it can tell the two apart."""
    by_length = sorted(sentences, key=len)
    short, long_ = by_length[:20], by_length[-40:]
    for model, floor in (("int8-row", 0.9999), ("int8-all", None)):
        enc = encoder("minilm", backend="onnx", onnx_model=model)
        alone = enc.encode(short)  # one batch of short texts
        worst = 1.0
        for i, text in enumerate(short[:6]):
            for batch in ([text], [text, *long_], [*short[10:], text]):
                vec = enc.encode(batch, batch_size=64)[batch.index(text)]
                worst = min(worst, float(vec @ alone[i]))
        if floor is not None:
            assert worst >= floor, model
        else:
            assert worst < 0.9999, model  # per-batch scales move a short text next to long ones


def test_shapes_and_empty_batch() -> None:
    enc = encoder("minilm", backend="onnx")
    assert enc.dim == 384 and enc.modality == "text"
    assert enc.encode([]).shape == (0, 384)
    assert enc.encode(["a single word"]).shape == (1, 384)


def test_empty_text_is_an_item_error_naming_its_position() -> None:
    enc = encoder("minilm", backend="onnx")
    with pytest.raises(ItemError) as info:
        enc.encode(["a dog", "   ", "a cat"])
    assert info.value.position == 1 and "empty" in str(info.value)


def test_unknown_backend_or_model_is_refused() -> None:
    # scikit-learn style: the constructor stores its arguments, the first use checks them
    with pytest.raises(JointspaceError, match="backend"):
        encoder("minilm", backend="tensorflow").encode(["a dog"])
    with pytest.raises(JointspaceError, match="onnx_model"):
        encoder("minilm", backend="onnx", onnx_model="int4").fit(["a dog"])


def test_save_and_load_keep_the_backend(tmp_path, sentences: list[str]) -> None:
    enc = encoder("minilm", backend="onnx", onnx_model="int8")
    before = enc.encode(sentences[:10])
    enc.save(tmp_path / "enc")
    config = json.loads((tmp_path / "enc" / "encoder.json").read_text())
    assert config["params"]["backend"] == "onnx" and config["params"]["onnx_model"] == "int8"
    loaded = load_encoder(tmp_path / "enc")
    assert loaded.backend == "onnx" and loaded.onnx_model == "int8"
    np.testing.assert_allclose(loaded.encode(sentences[:10]), before, atol=1e-6)
    encoder("minilm").save(tmp_path / "default")
    assert load_encoder(tmp_path / "default").backend == "onnx"  # the default: fused fp32 onnx
    encoder("minilm", backend="torch").save(tmp_path / "torch")
    assert load_encoder(tmp_path / "torch").backend == "torch"  # asked for: kept


def test_built_models_are_cached_under_a_version_key() -> None:
    path = built_model("int8")
    assert path.parent == models_dir() and version_key() in str(path)
    assert built_model("int8") == path  # second call: the cached file, no rebuild
    assert not list(path.parent.glob("*.part"))  # no half-written file left behind
    with pytest.raises(JointspaceError, match="unknown"):
        built_model("int3")


def test_threads_default_to_physical_cores() -> None:
    enc = encoder("minilm", backend="onnx")
    _ = enc.encode(["warm"])
    assert enc.onnx.threads == physical_cores() >= 1
