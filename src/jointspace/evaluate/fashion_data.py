"""Fashion-MNIST (Zalando, MIT licence), read from Debian's dataset-fashion-mnist package into the cache."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from jointspace.errors import JointspaceError

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
# How each class is described to the text encoder for zero-shot classification ("a photo of a ...").
DESCRIPTIONS = ["t-shirt", "pair of trousers", "pullover sweater", "dress", "coat", "sandal", "shirt",
                "sneaker", "bag", "ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def data_dir() -> Path:
    from jointspace.cache import deb_files

    return deb_files("dataset-fashion-mnist") / "usr" / "share" / "datasets" / "fashion-mnist"


def read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


def load_fashion_mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) int64) of the ``train`` (60,000) or ``test`` (10,000) split."""
    if split not in FILES:
        raise JointspaceError(f"unknown Fashion-MNIST split {split!r}; use train or test")
    images_file, labels_file = FILES[split]
    root = data_dir()
    labels = read_idx(root / labels_file, 8).astype(np.int64)
    images = read_idx(root / images_file, 16).reshape(len(labels), 28, 28)
    return images, labels
