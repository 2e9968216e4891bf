"""Document similarity against human scores: does an encoder's cosine rank document pairs as people do?

The built-in set is Lee, Pincombe & Welsh (2005): 50 short news paragraphs, every one of the 1,225
pairs scored by about 10 people (mean score in [0, 1]), plus 300 background paragraphs to fit on; it
ships in gensim's test data (PyPI gensim==4.4.0, read out of the wheel, never installed). Humans agree
with each other at about r = 0.6 on it. Any file of pairs with scores works the same way
(``load_pairs``): ``text1``, ``text2``, ``score`` columns, and an optional background corpus.

Figures: Pearson r and Spearman rho of cosine against the human score, one row per encoder.
Trainable encoders are fitted on the background corpus plus the documents themselves (no scores are
used, so nothing is tuned on the answer); each distinct text is encoded once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.cache import pypi_file
from jointspace.errors import JointspaceError

GENSIM = ("gensim", "4.4.0")
LEE_DIR = "gensim/test/test_data/"


@dataclass
class PairSet:
    """Pairs of texts with a human score, and texts to fit trainable encoders on."""

    name: str
    first: list[str]
    second: list[str]
    scores: np.ndarray
    background: list[str]


def _lines(member: str) -> list[str]:
    path = pypi_file(*GENSIM, LEE_DIR + member)
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.strip() for line in fh if line.strip()]


def lee_pairs() -> PairSet:
    """The Lee et al. (2005) set: 1,225 pairs of the 50 documents, mean human similarity, 300 background docs."""
    docs = _lines("lee.cor")
    matrix = np.array([[float(v) for v in line.split()] for line in _lines("similarities0-1.txt")])
    if matrix.shape != (len(docs), len(docs)):
        raise JointspaceError(f"lee: {len(docs)} documents but a {matrix.shape} similarity matrix")
    i, j = np.triu_indices(len(docs), 1)
    return PairSet("lee", [docs[a] for a in i], [docs[b] for b in j], matrix[i, j], _lines("lee_background.cor"))


def load_pairs(path: str | Path, text1: str = "text1", text2: str = "text2", score: str = "score",
               background: str | Path | None = None, background_field: str = "text") -> PairSet:
    """Pairs from a .csv / .tsv / .jsonl / .parquet file; a row without both texts and a numeric score is an
    error naming the row. ``background``: records (field ``background_field``) or a .txt, one text a line."""
    from jointspace.tasks.classify import load_frame

    frame, _ = load_frame(path)
    for name in (text1, text2, score):
        if name not in frame.columns:
            raise JointspaceError(f"{path}: no field {name!r} (fields: {', '.join(map(str, frame.columns))})")
    first, second, scores = [], [], []
    for n, (a, b, s) in enumerate(zip(frame[text1], frame[text2], frame[score], strict=True), start=1):
        try:
            value = float(s)
        except (TypeError, ValueError):
            value = float("nan")
        if not (isinstance(a, str) and a.strip() and isinstance(b, str) and b.strip()) or np.isnan(value):
            raise JointspaceError(f"{path}: row {n} needs two non-empty texts and a numeric {score!r}")
        first.append(a)
        second.append(b)
        scores.append(value)
    if len(scores) < 3:
        raise JointspaceError(f"{path}: {len(scores)} pair(s); a correlation needs at least 3")
    extra: list[str] = []
    if background is not None:
        if str(background).endswith(".txt"):
            extra = [line.strip() for line in Path(background).read_text(errors="replace").splitlines()
                     if line.strip()]
        else:
            bg, _ = load_frame(background)
            if background_field not in bg.columns:
                raise JointspaceError(f"{background}: no field {background_field!r}")
            extra = [t for t in bg[background_field] if isinstance(t, str) and t.strip()]
    return PairSet(Path(path).stem, first, second, np.array(scores, dtype=np.float64), extra)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``lsa:dim=100,weighting=tfidf`` -> ("lsa", {"dim": 100, "weighting": "tfidf"}) (values as JSON if they parse)."""
    import json

    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise JointspaceError(f"encoder spec {spec!r}: expected name:key=value,key=value")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def _vectors(name: str, params: dict[str, Any], texts: list[str], background: list[str]) -> Any:
    from jointspace.encoders import encoder as make_encoder

    enc = make_encoder(name, **params)
    if enc.trainable:
        enc.fit(list(dict.fromkeys(background + texts)))
    if hasattr(enc, "encode_sparse"):
        return enc.encode_sparse(texts)
    from jointspace.encoders.robust import encode_robust

    vectors, _ = encode_robust(enc, texts)  # a text with no known word (lsa) scores 0 against everything
    return vectors


def score_pairs(pairs: PairSet, specs: Sequence[str]) -> list[dict[str, Any]]:
    """Pearson r and Spearman rho of each encoder's cosine against the human scores."""
    import warnings

    from scipy.stats import pearsonr, spearmanr

    texts = list(dict.fromkeys(pairs.first + pairs.second))
    index = {t: i for i, t in enumerate(texts)}
    a = np.array([index[t] for t in pairs.first])
    b = np.array([index[t] for t in pairs.second])
    rows = []
    for spec in specs:
        start = time.perf_counter()
        name, params = parse_spec(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a small background supports fewer lsa components: said below
            vectors = _vectors(name, params, texts, pairs.background)
        cos = np.asarray(vectors[a].multiply(vectors[b]).sum(axis=1)).ravel() if hasattr(vectors, "multiply") \
            else np.einsum("ij,ij->i", vectors[a], vectors[b])
        rows.append({"data": pairs.name, "encoder": spec, "pairs": len(cos),
                     "pearson": round(float(pearsonr(cos, pairs.scores)[0]), 4),
                     "spearman": round(float(spearmanr(cos, pairs.scores)[0]), 4),
                     "seconds": round(time.perf_counter() - start, 1)})
    return rows


DEFAULT_SPECS = ("tfidf:dim=100000", "lsa", "lsa:singular_power=2", "minilm")
