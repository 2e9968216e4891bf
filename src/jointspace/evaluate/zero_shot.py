"""Zero-shot image classification through the image -> text bridge (no training on the images)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from jointspace.encoders import encoder as make_encoder
from jointspace.evaluate.fashion_data import CLASSES, DESCRIPTIONS, load_fashion_mnist
from jointspace.ranking import top_k

TEMPLATE = "a photo of a {}"


def fashion_mnist(n: int = 10_000, invert: bool = True, template: str = TEMPLATE, seed: int = 0,
                  batch_size: int = 64, progress: Callable[[int], None] | None = None,
                  encoder: str = "image-text", **encoder_params: Any) -> dict[str, float]:
    """Top-1 accuracy of labelling Fashion-MNIST test images by the nearest class description, and
    text -> image precision@10 per class (query: the description, among the ``n`` images).

    ``invert``: the images are light garments on black; product photos (ImageNet's) are the other
    way round, so by default they are shown inverted (a fixed transform, not learnt from labels).
    """
    images, labels = load_fashion_mnist("test")
    if n < len(labels):
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False))
        images, labels = images[keep], labels[keep]
    enc = make_encoder(encoder, **encoder_params)
    vectors = []
    for start in range(0, len(labels), batch_size):
        batch = images[start:start + batch_size]
        vectors.append(enc.encode([255 - im if invert else im for im in batch], batch_size=batch_size))
        if progress:
            progress(len(batch))
    image_vectors = np.concatenate(vectors)
    class_vectors = enc.encode_text([template.format(d) for d in DESCRIPTIONS])
    scores = image_vectors @ class_vectors.T
    metrics: dict[str, float] = {"top1_accuracy": float((scores.argmax(1) == labels).mean())}
    _, best = top_k(scores.T, 10)
    per_class = [(labels[best[c]] == c).mean() for c in range(len(CLASSES))]
    metrics["precision@10"] = float(np.mean(per_class))
    for c, p in enumerate(per_class):
        metrics[f"precision@10/{DESCRIPTIONS[c].replace(' ', '_')}"] = float(p)
    metrics["chance_accuracy"] = float(np.bincount(labels).max() / len(labels))
    metrics["images"] = len(labels)
    return metrics
