"""The image -> text-space bridge: ConSE (Norouzi et al., 2014), no paired training data needed.

An image's vector is the probability-weighted mix of the text vectors of its ``top`` most likely
ImageNet classes: ``v = sum_t p_t * text(class_t) / sum_t p_t`` (then L2-normalised). It lands in the
text encoder's space (MiniLM, 384-d), so a text query finds images and an image finds texts.
The 1000 class text vectors are computed once and cached beside the ONNX model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, check_texts, l2_normalise
from jointspace.encoders.efficientnet import EfficientNetEncoder, class_names, imagenet_classes, softmax

CLASS_TEXTS = ("name", "lemmas", "definition")


def class_text(kind: str) -> list[str]:
    """The text that stands for each ImageNet class: its first name, all its names, or names + definition."""
    out = []
    for _, lemmas, definition in imagenet_classes():
        if kind == "name":
            out.append(lemmas[0])
        elif kind == "lemmas":
            out.append(", ".join(lemmas))
        else:
            out.append(f"{lemmas[0]}: {definition}")
    return out


@lru_cache(maxsize=4)
def class_vectors(text_encoder: str, kind: str) -> np.ndarray:
    """(1000, d) unit text vectors of the class texts, cached on disk by encoder and texts."""
    from jointspace.cache import cache_dir
    from jointspace.encoders import encoder as make_encoder

    texts = class_text(kind)
    digest = hashlib.sha256(("\n".join(texts) + text_encoder).encode()).hexdigest()[:16]
    path = cache_dir() / "models" / f"conse-{text_encoder}-{kind}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = make_encoder(text_encoder).encode(texts, batch_size=128)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def conse(proba: np.ndarray, vectors: np.ndarray, top: int) -> np.ndarray:
    """Probability-weighted mix of the ``top`` classes' vectors, per row of ``proba``."""
    top = min(top, proba.shape[1])
    best = np.argpartition(-proba, top - 1, axis=1)[:, :top]
    weights = np.take_along_axis(proba, best, axis=1)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return np.einsum("nt,ntd->nd", weights, vectors[best]).astype(np.float32)


class ImageTextEncoder(Encoder):
    """Images into the text space (384-d with MiniLM). ``encode_text`` embeds text queries beside them."""

    name = "image-text"
    modality = "image"
    space = "text"

    def __init__(self, text_encoder: str = "minilm", top: int = 10, class_text: str = "definition") -> None:
        self.text_encoder = text_encoder
        self.top = top
        self.class_text = class_text

    @property
    def dim(self) -> int:
        from jointspace.encoders import encoder as make_encoder

        return make_encoder(self.text_encoder).dim

    @property
    def class_vectors(self) -> np.ndarray:
        return class_vectors(self.text_encoder, self.class_text)

    @property
    def image_encoder(self) -> EfficientNetEncoder:
        return _image_encoder()

    def encode_text(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Text queries in the same space (the hub text encoder)."""
        from jointspace.encoders import encoder as make_encoder

        return make_encoder(self.text_encoder).encode(check_texts(texts), batch_size=batch_size)

    def from_proba(self, proba: np.ndarray) -> np.ndarray:
        """Text-space vectors from ImageNet probabilities (already computed elsewhere, e.g. video frames)."""
        return l2_normalise(conse(proba, self.class_vectors, self.top))

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        proba = self.image_encoder.predict_proba(items, batch_size=min(batch_size, 32))
        return conse(proba, self.class_vectors, self.top)

    def encode_with_details(self, items: Sequence[Any], batch_size: int = 32) -> tuple[np.ndarray, list[dict]]:
        """Vectors, and per image its top class names (what the bridge 'saw')."""
        proba = self.image_encoder.predict_proba(list(items), batch_size=batch_size)
        return self.from_proba(proba), [{"labels": labels_of(p)} for p in proba]


def labels_of(proba: np.ndarray, top: int = 3) -> str:
    names = class_names()
    best = np.argsort(-proba)[:top]
    return ", ".join(f"{names[j]} {proba[j]:.2f}" for j in best)


@lru_cache(maxsize=1)
def _image_encoder() -> EfficientNetEncoder:
    return EfficientNetEncoder()


__all__ = ["CLASS_TEXTS", "ImageTextEncoder", "class_vectors", "conse", "softmax"]
