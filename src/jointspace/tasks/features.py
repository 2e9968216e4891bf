"""Features for classifiers: a text encoder's vectors joined with metadata columns, as one sklearn transformer.

``build_features`` returns a ``ColumnTransformer``: the text column goes through any registry encoder
(``EncoderFeatures``), numeric metadata is imputed (median, plus a missing-value indicator) and scaled,
categorical metadata is one-hot encoded (a missing value is its own category, unseen ones are ignored).
Pretrained encoders are deterministic, so inside ``vector_cache()`` each distinct text is encoded once
however many folds ask for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from jointspace.encoders import encoder as make_encoder
from jointspace.encoders.base import as_items, check_int
from jointspace.encoders.robust import encode_robust
from jointspace.errors import ItemError

MISSING = "(missing)"
_CACHE: dict[str, dict[str, np.ndarray]] | None = None
_PROGRESS: Callable[[int], None] | None = None


@contextmanager
def vector_cache() -> Iterator[None]:
    """Within the block, pretrained encoders encode each distinct text once (the vectors stay in memory)."""
    global _CACHE
    previous, _CACHE = _CACHE, {} if _CACHE is None else _CACHE
    try:
        yield
    finally:
        _CACHE = previous


@contextmanager
def encoding_progress(advance: Callable[[int], None] | None) -> Iterator[None]:
    """Report each encoded chunk's size to ``advance`` (a progress bar) within the block."""
    global _PROGRESS
    previous, _PROGRESS = _PROGRESS, advance
    try:
        yield
    finally:
        _PROGRESS = previous


def cache_key(encoder: str, encoder_params: dict[str, Any] | None) -> str:
    return f"{encoder}:{json.dumps(encoder_params or {}, sort_keys=True, default=str)}"


def preload(encoder: str, encoder_params: dict[str, Any] | None, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Put vectors computed elsewhere (e.g. kept on disk by a benchmark) into the active ``vector_cache``."""
    if _CACHE is None:
        raise RuntimeError("preload needs an active vector_cache()")
    store = _CACHE.setdefault(cache_key(encoder, encoder_params), {})
    store.update(zip(texts, vectors, strict=True))


class EncoderFeatures(TransformerMixin, BaseEstimator):
    """A registry encoder as an sklearn transformer over a column of texts (fitted first when it learns).

    Input: a column of texts (a list, a Series, a 1-D array, or a one-column DataFrame / 2-D array as
    ``ColumnTransformer`` gives it). A text the encoder cannot embed gets zero features; an item that
    is not text at all (None, NaN, a number) is an error naming its position.
    """

    def __init__(self, encoder: str = "minilm", encoder_params: dict[str, Any] | None = None,
                 batch_size: int = 64, chunk: int = 256, sparse: bool = False) -> None:
        self.encoder = encoder
        self.encoder_params = encoder_params
        self.batch_size = batch_size
        self.chunk = chunk
        self.sparse = sparse

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # texts, as scikit-learn's TfidfVectorizer
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def fit(self, X: Any, y: Any = None) -> EncoderFeatures:
        for what in ("batch_size", "chunk"):
            check_int("EncoderFeatures", what, getattr(self, what))
        encoder = make_encoder(self.encoder, **(self.encoder_params or {}))
        encoder.fit(_texts(X) if encoder.trainable else [])
        self.encoder_ = encoder
        self.dim_ = encoder.dim
        return self

    def _cache_key(self) -> str | None:
        if self.encoder_.trainable or _CACHE is None:
            return None
        return cache_key(self.encoder, self.encoder_params)

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "encoder_")
        texts = _texts(X)
        if getattr(self, "sparse", False) and hasattr(self.encoder_, "encode_sparse"):
            # sparse TF-IDF rows as they are: a linear model on them is ~5x faster than on the dense copy
            return self.encoder_.encode_sparse(texts)
        key = self._cache_key()
        store = _CACHE.setdefault(key, {}) if key is not None and _CACHE is not None else {}
        todo = list(dict.fromkeys(t for t in texts if t not in store))
        for start in range(0, len(todo), self.chunk):
            part = todo[start:start + self.chunk]
            # a text the encoder cannot embed (lsa: no known word) gets zero text features; metadata still counts
            vectors, _ = encode_robust(self.encoder_, part, batch_size=self.batch_size)
            for text, vector in zip(part, vectors, strict=True):
                store[text] = vector
            if _PROGRESS is not None:
                _PROGRESS(len(part))
        out = np.zeros((len(texts), self.dim_), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = store[text]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "encoder_")
        return np.array([f"{self.encoder}_{i}" for i in range(self.dim_)], dtype=object)


def _texts(X: Any) -> list[str]:
    """The column of texts in ``X``; a text may be blank (zero features), an item that is no text is an error."""
    out = []
    for i, text in enumerate(as_items(X, text=True)):
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise ItemError(f"item {i}", f"expected text, got {type(text).__name__} {text!r}", position=i)
        out.append(str(text))
    return out


def as_numeric(frame: pd.DataFrame) -> np.ndarray:
    """Numbers (booleans as 0/1); anything unreadable becomes NaN and is imputed downstream."""
    return frame.apply(lambda col: pd.to_numeric(col, errors="coerce")).astype(float).to_numpy()


def clip_scaled(values: np.ndarray) -> np.ndarray:
    """Scaled values cut to +-5 standard deviations, so one extreme row (a 28k-character message) cannot dominate."""
    return np.clip(values, -5.0, 5.0)


def as_category(frame: pd.DataFrame) -> np.ndarray:
    """Strings; a missing value is the category ``(missing)``."""
    return frame.apply(lambda col: col.map(lambda v: MISSING if v is None or (isinstance(v, float) and np.isnan(v))
                                           else str(v))).to_numpy(dtype=object)


def split_meta(frame: pd.DataFrame, meta: Sequence[str]) -> tuple[list[str], list[str]]:
    """Metadata fields as (numeric, categorical). ``name:num`` / ``name:cat`` force a kind, else the data decides."""
    numeric, categorical = [], []
    for spec in meta:
        name, _, kind = spec.partition(":")
        if kind not in ("", "num", "cat"):
            raise ValueError(f"metadata field {spec!r}: kind must be num or cat")
        if not kind:
            values = frame[name].dropna() if name in frame else pd.Series([], dtype=object)
            numbers = pd.to_numeric(values, errors="coerce")
            kind = "num" if len(values) and numbers.notna().all() else "cat"
        (numeric if kind == "num" else categorical).append(name)
    return numeric, categorical


def build_features(text_field: str, encoder: str, encoder_params: dict[str, Any] | None,
                   numeric: Sequence[str] = (), categorical: Sequence[str] = (),
                   sparse: bool = False) -> ColumnTransformer:
    """The feature step: encoder vectors | scaled numeric metadata | one-hot categorical metadata.

    ``sparse``: an encoder with ``encode_sparse`` (tfidf) keeps its rows sparse and so does the whole step.
    """
    parts: list[tuple[str, Any, Any]] = [("text", EncoderFeatures(encoder, encoder_params, sparse=sparse),
                                          [text_field])]
    if numeric:
        parts.append(("numeric", make_pipeline(FunctionTransformer(as_numeric, feature_names_out="one-to-one"),
                                               SimpleImputer(strategy="median", add_indicator=True,
                                                             keep_empty_features=True),
                                               StandardScaler(),
                                               FunctionTransformer(clip_scaled, feature_names_out="one-to-one")),
                      list(numeric)))
    if categorical:
        parts.append(("categorical", make_pipeline(FunctionTransformer(as_category, feature_names_out="one-to-one"),
                                                   OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                      list(categorical)))
    return ColumnTransformer(parts, sparse_threshold=1.0 if sparse else 0.0)
