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

    def encode(self, items: Sequence[Any] | str, batch_size: int = 64, show_progress: bool = False, *,
               show_progress_bar: bool | None = None, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, convert_to_tensor: bool = False) -> Any:
        """Vectors of ``items``: an (n, dim) float32 array of unit rows.

        Also what sentence-transformers users type: a single string gives one (dim,) vector;
        ``show_progress_bar`` is ``show_progress``; ``normalize_embeddings=False`` returns the vectors as the
        model makes them; ``convert_to_tensor=True`` a torch tensor (torch must be installed);
        ``convert_to_numpy=False`` a list of 1-D arrays.
        """
        if not self.is_fitted:
            raise NotFittedError(f"encoder {self.name!r} must be fitted before encode")
        single = isinstance(items, str | bytes)
        items = [items] if single else list(items)
        if show_progress_bar is not None:
            show_progress = bool(show_progress_bar)
        if not items:
            vectors = np.zeros((0, self.dim), dtype=np.float32)
        else:
            if self.modality == "text":
                items = check_texts(items)
            vectors = self._encode(items, batch_size=batch_size, show_progress=show_progress)
            vectors = l2_normalise(vectors) if normalize_embeddings else np.ascontiguousarray(vectors, np.float32)
        if single:
            vectors = vectors[0]
        if convert_to_tensor:
            try:
                import torch
            except ImportError as exc:
                raise ImportError("convert_to_tensor=True needs torch; install it or leave it False") from exc
            return torch.from_numpy(vectors)
        if not convert_to_numpy and not single:
            return list(vectors)
        return vectors

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        raise NotImplementedError

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarity (n, m) of two sets of vectors (or single vectors, arrays, lists, tensors), whatever
        their length: each row is scaled to unit length first (an all-zero row scores 0)."""
        rows = [l2_normalise(np.atleast_2d(np.asarray(x.detach().cpu() if hasattr(x, "detach") else x,
                                                      dtype=np.float32))) for x in (a, b)]
        return rows[0] @ rows[1].T

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
