"""Paired data for alignment evaluations, with each side's encoder vectors cached on disk.

- ``fashion-mnist``: images <-> class descriptions. Three descriptions per class; image i of a class
  is paired with description ``i % 3`` of its class (the same descriptions on both splits: the
  images are what is held out). Images are shown inverted, as in the zero-shot evaluation.
- ``asterisk-prompts``: recorded voice prompts <-> their transcripts; a fixed split by name
  (every 5th prompt, in sorted order, is held out).

Vectors are cached per dataset/split/encoder/item in ``$JOINTSPACE_CACHE/alignment``: encoding
images and speech is slow on a CPU, and an evaluation of four methods needs them once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jointspace.errors import JointspaceError

DATASETS = ("fashion-mnist", "asterisk-prompts")

FASHION_DESCRIPTIONS: list[list[str]] = [
    ["a photo of a t-shirt", "a short-sleeved cotton top", "a casual tee shirt"],
    ["a photo of a pair of trousers", "a pair of long pants", "jeans or slacks"],
    ["a photo of a pullover sweater", "a warm knitted jumper with long sleeves", "a woolly sweater"],
    ["a photo of a dress", "a woman's one-piece dress", "a summer frock"],
    ["a photo of a coat", "a winter jacket with buttons", "a warm overcoat"],
    ["a photo of a sandal", "an open summer shoe with straps", "a strappy sandal"],
    ["a photo of a shirt", "a button-up shirt with a collar", "a long-sleeved blouse"],
    ["a photo of a sneaker", "a running shoe", "a sports trainer"],
    ["a photo of a bag", "a leather handbag", "a tote bag with handles"],
    ["a photo of an ankle boot", "a short leather boot", "a heeled bootie"],
]


@dataclass
class PairSet:
    """One split of a paired data set: the raw items of each side, and a class or pair group per pair."""

    name: str
    split: str
    left: list[Any]  # texts
    right: list[Any]  # images (arrays) or audio paths
    keys: list[str]  # a stable id per right item (the cache key)
    groups: np.ndarray  # pairs of one group match each other
    classes: np.ndarray | None  # a class per pair for plots (None: none)
    class_names: list[str] | None
    modalities: tuple[str, str]

    def __len__(self) -> int:
        return len(self.left)


def fashion_pairs(split: str, n: int, seed: int = 0) -> PairSet:
    """A class-balanced sample of ``n`` images of one split, each with a description of its class."""
    from jointspace.evaluate.fashion_data import CLASSES, load_fashion_mnist

    images, labels = load_fashion_mnist(split)
    rng = np.random.default_rng(seed)
    per_class = max(1, n // len(CLASSES))
    chosen = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class]
                                     for c in range(len(CLASSES))]))
    texts = [FASHION_DESCRIPTIONS[labels[i]][j % 3] for j, i in enumerate(chosen)]
    return PairSet("fashion-mnist", split, texts, [255 - images[i] for i in chosen],
                   [f"{split}/{i}" for i in chosen], labels[chosen].astype(np.int64), labels[chosen],
                   list(CLASSES), ("text", "image"))


def asterisk_pairs(split: str, n: int | None = None, seed: int = 0) -> PairSet:
    """Prompts of the fixed split (``train``: 4 of every 5 by sorted name, ``test``: every 5th)."""
    from jointspace.evaluate.asterisk_data import load_prompts, normalise

    prompts = sorted(load_prompts(), key=lambda p: p.name)
    chosen = [p for i, p in enumerate(prompts) if (i % 5 == 4) == (split == "test")]
    if n is not None and n < len(chosen):
        keep = np.sort(np.random.default_rng(seed).choice(len(chosen), n, replace=False))
        chosen = [chosen[i] for i in keep]
    _, groups = np.unique([normalise(p.transcript) for p in chosen], return_inverse=True)  # same words: one group
    return PairSet("asterisk-prompts", split, [p.transcript for p in chosen], [str(p.path) for p in chosen],
                   [p.name for p in chosen], groups.astype(np.int64), None, None, ("text", "audio"))


def load_pairs(dataset: str, split: str, n: int | None = None, seed: int = 0) -> PairSet:
    if dataset == "fashion-mnist":
        return fashion_pairs(split, n or (3000 if split == "train" else 2000), seed)
    if dataset == "asterisk-prompts":
        return asterisk_pairs(split, n, seed)
    raise JointspaceError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")


# -- cached encoding --------------------------------------------------------------------------------
def _cache_file(dataset: str, encoder: str) -> Any:
    from jointspace.cache import cache_dir

    safe = encoder.replace("/", "_")
    path = cache_dir() / "alignment" / f"{dataset}-{safe}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cached_vectors(dataset: str, encoder: str, keys: Sequence[str], items: Sequence[Any],
                   encode: Callable[[list[Any]], np.ndarray], batch_size: int = 64,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Vectors of ``items`` (named by ``keys``), computing only those not cached yet; the cache grows."""
    path = _cache_file(dataset, encoder)
    cached: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as data:
            cached = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    missing = [i for i, k in enumerate(keys) if k not in cached]
    if progress:
        progress(len(keys) - len(missing))
    try:
        for start in range(0, len(missing), batch_size):
            batch = missing[start:start + batch_size]
            vectors = encode([items[i] for i in batch])
            for i, v in zip(batch, vectors, strict=True):
                cached[keys[i]] = v
            if progress:
                progress(len(batch))
    finally:  # what was computed is kept even when interrupted
        if missing and cached:
            names = list(cached)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array(names), vectors=np.stack([cached[k] for k in names]))
            tmp.replace(path)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def encoder_key(name: str, params: dict[str, Any] | None = None) -> str:
    if not params:
        return name
    return f"{name}-{hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:8]}"
