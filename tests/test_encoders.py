from __future__ import annotations

import numpy as np
import pytest

import jointspace
from jointspace.errors import ItemError, JointspaceError, NotFittedError


def test_registry_knows_the_first_encoders() -> None:
    assert {"minilm", "tfidf"} <= set(jointspace.available_encoders())
    with pytest.raises(JointspaceError, match="unknown encoder 'nope'"):
        jointspace.encoder("nope")


def test_minilm_vectors_are_unit_float32_and_semantic(tmp_path) -> None:
    enc = jointspace.encoder("minilm")
    assert enc.dim == 384 and enc.modality == "text"
    assert enc.fit(["ignored"]) is enc
    v = enc.encode(["a large wild cat with black stripes", "tiger", "a spreadsheet of quarterly taxes"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    enc.save(tmp_path / "m")
    again = jointspace.load_encoder(tmp_path / "m")
    np.testing.assert_allclose(again.encode(["tiger"]), v[1:2], atol=1e-5)


def test_minilm_rejects_empty_text_naming_the_item() -> None:
    with pytest.raises(ItemError, match="item 1: empty text") as info:
        jointspace.encoder("minilm").encode(["fine", "   "])
    assert info.value.position == 1


def test_tfidf_fixed_dimension_fit_and_reload(tmp_path, wordnet_records) -> None:
    texts = [r["text"] for r in wordnet_records]
    small = jointspace.encoder("tfidf", dim=64).fit(texts)
    assert len(small.vocabulary_) == 64 and small.encode(texts[:3]).shape == (3, 64)
    enc = jointspace.encoder("tfidf", dim=4096)
    with pytest.raises(NotFittedError):
        enc.encode(["x"])
    enc.fit(texts)
    v = enc.encode(texts[:5])
    assert v.shape == (5, 4096) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert len(enc.vocabulary_) < 4096
    # a text is closest to itself
    assert np.argmax(enc.encode(texts[:20]) @ enc.encode([texts[7]])[0]) == 7
    enc.save(tmp_path / "t")
    again = jointspace.load_encoder(tmp_path / "t")
    np.testing.assert_allclose(again.encode(texts[:5]), v, atol=1e-6)


def test_tfidf_cannot_fit_on_nothing() -> None:
    with pytest.raises(JointspaceError, match="empty corpus"):
        jointspace.encoder("tfidf").fit([])
    with pytest.raises(JointspaceError, match="cannot fit"):
        jointspace.encoder("tfidf").fit(["the and of", "a the"])  # only stop words


def test_saved_encoder_of_unknown_format_is_refused(tmp_path) -> None:
    path = jointspace.encoder("tfidf").fit(["one text", "another text"]).save(tmp_path / "t")
    (path / "encoder.json").write_text('{"format": 99, "name": "tfidf", "params": {}}')
    with pytest.raises(jointspace.FormatError, match="format 99"):
        jointspace.load_encoder(path)
