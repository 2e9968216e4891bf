"""The encoder contract every method follows: a scikit-learn transformer with a few extras.

An encoder turns a batch of one modality into float32, L2-normalised vectors:
``fit(X, y=None) -> self``, ``encode(items) -> (n, dim)`` (``transform`` is the same), ``dim``,
``modality``, ``save(path)``. It derives from scikit-learn's ``TransformerMixin`` and ``BaseEstimator``
so that ``get_params`` / ``set_params`` / ``clone``, ``Pipeline``, ``ColumnTransformer`` and
``GridSearchCV`` work as with any scikit-learn transformer. Constructors follow scikit-learn's rule:
each argument is stored unchanged under its own name and nothing is validated there (``fit``, or the
first use of a pretrained encoder, checks the settings), so ``type(enc)(**enc.get_params())`` rebuilds
an unfitted copy. The tags say the input is text (or media, or interactions), never a numeric matrix,
as scikit-learn's own ``TfidfVectorizer`` does, so the checks meant for numeric matrices are skipped by
scikit-learn itself. Fitted state is saved by ``_save_state`` / ``_load_state`` in the encoder's own
folder (plain JSON / NPY, not pickles).
"""

from __future__ import annotations

import json
import numbers
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from jointspace.errors import FormatError, ItemError, JointspaceError, NotFittedError

ENCODER_FORMAT = 1


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero); always float32, C-contiguous."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


def as_items(X: Any, text: bool = False) -> Any:
    """The items of ``X`` as scikit-learn hands them over: a one-column DataFrame (``ColumnTransformer``
    with a list of one column) gives its column; with ``text``, a one-column 2-D array gives its column.

    A DataFrame of several columns is an error (which column would hold the items?); anything else is
    returned as it is (lists, Series, 1-D arrays, generators).
    """
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise JointspaceError(f"expected one column of items, got a DataFrame with {X.shape[1]} columns "
                                  f"({', '.join(map(str, X.columns[:5]))}); select the column first")
        return X.iloc[:, 0]
    if text and isinstance(X, np.ndarray) and X.ndim == 2:
        if X.shape[1] != 1:
            raise JointspaceError(f"expected one column of texts, got an array of shape {X.shape}")
        return X[:, 0]
    return X


def check_int(name: str, what: str, value: Any, minimum: int = 1) -> int:
    """A whole-number setting of at least ``minimum``, checked when an encoder is fitted or first used."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise JointspaceError(f"{name}: {what} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def check_texts(texts: Iterable[Any]) -> list[str]:
    """Texts as a list; a non-string or blank item raises ItemError naming its position."""
    out = []
    for i, text in enumerate(as_items(texts, text=True)):
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise ItemError(f"item {i}", f"expected text, got {type(text).__name__}", position=i)
        if not text.strip():
            raise ItemError(f"item {i}", "empty text", position=i)
        out.append(str(text))
    return out


class Encoder(TransformerMixin, BaseEstimator):
    """Base class: subclasses set ``name``, ``modality``, a ``dim`` and implement ``_encode``.

    ``dim`` is either a constructor argument (stored as the attribute ``dim``) or a property of the
    subclass; ``is_fitted`` says whether ``fit`` is still needed.
    """

    name: ClassVar[str] = ""
    modality: ClassVar[str] = "text"
    trainable: ClassVar[bool] = False
    dim: int

    @property
    def is_fitted(self) -> bool:
        return True

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        modality = self.modality
        # never a numeric matrix: scikit-learn skips its numeric checks, as for TfidfVectorizer
        tags.input_tags.two_d_array = False
        tags.input_tags.string = modality in ("text", "joint")
        tags.input_tags.dict = modality in ("joint", "interaction")
        tags.requires_fit = self.trainable
        tags.transformer_tags.preserves_dtype = []  # float32 out, whatever comes in
        return tags

    def _validate(self) -> None:
        """Check the settings (called by ``fit``; pretrained encoders also on first use)."""

    def fit(self, X: Iterable[Any], y: Any = None) -> Encoder:
        """Nothing to learn for a pretrained encoder: checks the settings and returns ``self``."""
        self._validate()
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The vectors of ``X`` (scikit-learn's name for ``encode``)."""
        return self.encode(X)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y).transform(X)``, reading a one-shot iterable (a generator) only once."""
        X = as_items(X, text=self.modality == "text")
        if not isinstance(X, Sequence | np.ndarray) and not hasattr(X, "iloc"):
            X = list(X)
        return self.fit(X, y, **fit_params).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One name per output column: the encoder's name and the column number (``lsa0``, ``lsa1``...)."""
        prefix = (self.name or type(self).__name__.lower()).replace("-", "_")
        return np.asarray([f"{prefix}{i}" for i in range(self.dim)], dtype=object)

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
        items = [items] if single else list(as_items(items, text=self.modality == "text"))
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        # encoders pickled before the scikit-learn contract kept their dimension as ``_dim``
        if "_dim" in state and "dim" not in state:
            state["dim"] = state.pop("_dim")
        super().__setstate__(state)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {"format": ENCODER_FORMAT, "name": self.name, "params": self.get_params(deep=False)}
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
