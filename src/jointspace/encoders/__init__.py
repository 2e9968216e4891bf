"""The encoder registry: a name and plain parameters give an encoder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jointspace.encoders.base import Encoder, l2_normalise
from jointspace.errors import JointspaceError

_REGISTRY: dict[str, str] = {
    # name -> "module:Class", imported on first use so heavy libraries load only when needed
    "behaviour": "jointspace.encoders.behaviour:BehaviourEncoder",
    "minilm": "jointspace.encoders.minilm:MiniLMEncoder",
    "minilm-onnx": "jointspace.encoders.minilm:MiniLMOnnxEncoder",
    "sentence-transformers": "jointspace.encoders.sentence_transformers:SentenceTransformerEncoder",
    "tfidf": "jointspace.encoders.tfidf:TfidfEncoder",
    "efficientnet": "jointspace.encoders.efficientnet:EfficientNetEncoder",
    "image-text": "jointspace.encoders.image_text:ImageTextEncoder",
    "speech": "jointspace.encoders.speech:SpeechEncoder",
    "voice": "jointspace.encoders.voice:VoiceEncoder",
    "audio-stats": "jointspace.encoders.audio_stats:AudioStatsEncoder",
    "video": "jointspace.encoders.video:VideoEncoder",
    "joint": "jointspace.encoders.joint:JointEncoder",
    "bow": "jointspace.encoders.bow:BowEncoder",
    "lsa": "jointspace.encoders.lsa:LsaEncoder",
    "lda": "jointspace.encoders.lda:LdaEncoder",
    "word2vec": "jointspace.encoders.word2vec:Word2VecEncoder",
    "spacy-vectors": "jointspace.encoders.spacy_vectors:SpacyVectorsEncoder",
    "theme": "jointspace.encoders.theme:ThemeEncoder",
    "metric-space": "jointspace.encoders.metric_space:SpaceEncoder",  # projected or fused (tasks/nearest)
    "space": "jointspace.align.space_encoder:SpaceEncoder",  # a learned joint space (jointspace.align)
}
_EXTRA: dict[str, Callable[..., Encoder]] = {}


def register(name: str, target: str | Callable[..., Encoder]) -> None:
    """Add an encoder under ``name``: a ``"module:Class"`` path or a class/factory."""
    if isinstance(target, str):
        _REGISTRY[name] = target
    else:
        _EXTRA[name] = target


def available() -> list[str]:
    return sorted(set(_REGISTRY) | set(_EXTRA))


def encoder_class(name: str) -> Callable[..., Encoder]:
    if name in _EXTRA:
        return _EXTRA[name]
    if name not in _REGISTRY:
        raise JointspaceError(f"unknown encoder {name!r}; available: {', '.join(available())}")
    module_name, cls_name = _REGISTRY[name].split(":")
    import importlib

    return getattr(importlib.import_module(module_name), cls_name)


def encoder(name: str, **params: Any) -> Encoder:
    """An encoder by registry name, e.g. ``encoder("minilm")`` or ``encoder("tfidf", dim=1024)``."""
    return encoder_class(name)(**params)


def load_encoder(path: str | Path) -> Encoder:
    """An encoder saved with ``Encoder.save``, fitted state included."""
    config = Encoder.read_config(path)
    enc = encoder(config["name"], **config["params"])
    enc._load_state(Path(path))
    return enc


__all__ = ["Encoder", "available", "encoder", "encoder_class", "l2_normalise", "load_encoder", "register"]
