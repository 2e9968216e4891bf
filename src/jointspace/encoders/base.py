"""The encoder contract every method follows (scikit-learn style estimators).

An encoder turns a batch of one modality into float32, L2-normalised vectors:
``fit(items) -> self``, ``encode(items) -> (n, dim)``, ``dim``, ``modality``, ``save(path)``.
Its constructor takes plain keyword arguments, which ``get_params`` returns, so
``type(enc)(**enc.get_params())`` rebuilds an unfitted copy. Fitted state is saved by
``_save_state`` / ``_load_state`` in the encoder's own folder.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jointspace.errors import FormatError, ItemError, NotFittedError

ENCODER_FORMAT = 1


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero); always float32, C-contiguous."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


def check_texts(texts: Iterable[Any]) -> list[str]:
    """Texts as a list; a non-string or blank item raises ItemError naming its position."""
    out = []
    for i, text in enumerate(texts):
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise ItemError(f"item {i}", f"expected text, got {type(text).__name__}", position=i)
        if not text.strip():
            raise ItemError(f"item {i}", "empty text", position=i)
        out.append(text)
    return out


class Encoder:
    """Base class: subclasses set ``name``, ``modality`` and implement ``_encode``."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = "text"
    trainable: ClassVar[bool] = False

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return True

    def fit(self, items: Iterable[Any]) -> Encoder:
        return self

    def encode(self, items: Sequence[Any], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"encoder {self.name!r} must be fitted before encode")
        items = list(items)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.modality == "text":
            items = check_texts(items)
        vectors = self._encode(items, batch_size=batch_size, show_progress=show_progress)
        return l2_normalise(vectors)

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        raise NotImplementedError

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity of two sets of vectors from this encoder (they are unit length)."""
        return np.atleast_2d(a) @ np.atleast_2d(b).T

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {"format": ENCODER_FORMAT, "name": self.name, "params": self.get_params()}
        (path / "encoder.json").write_text(json.dumps(config, indent=2, default=str))
        self._save_state(path)
        return path

    def _save_state(self, path: Path) -> None:
        """Write fitted state (nothing for pretrained encoders)."""

    def _load_state(self, path: Path) -> None:
        """Read what ``_save_state`` wrote."""

    @classmethod
    def read_config(cls, path: str | Path) -> dict[str, Any]:
        file = Path(path) / "encoder.json"
        if not file.exists():
            raise FormatError(f"{path}: no encoder.json, not a saved jointspace encoder")
        config = json.loads(file.read_text())
        if config.get("format") != ENCODER_FORMAT:
            raise FormatError(
                f"{path}: encoder format {config.get('format')!r} is not supported "
                f"(this jointspace reads format {ENCODER_FORMAT})"
            )
        return config

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def encode_robust(enc: Encoder, texts: list[str], batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of ``texts`` and a mask of those that could be embedded (rejected ones are zero rows)."""
    out = np.zeros((len(texts), enc.dim), dtype=np.float32)
    ok = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), batch_size):
        keep = list(range(start, min(start + batch_size, len(texts))))
        while keep:
            try:
                out[keep] = enc.encode([texts[i] for i in keep])
                ok[keep] = True
                break
            except ItemError as exc:
                if exc.position is None:
                    raise
                keep.pop(exc.position)
    return out, ok
