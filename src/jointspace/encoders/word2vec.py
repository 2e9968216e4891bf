"""word2vec trained on the user's corpus (gensim), pooled into text vectors by SIF (see ``sif.py``).

Training reads the tokenised corpus from a temporary file (gensim's ``corpus_file`` mode), so a
generator works and memory holds the model only. gensim splits lines longer than 10,000 words into
pieces for training, so very long documents are used whole. The fitted state is plain arrays (words,
vectors, frequencies), not a gensim pickle: encoding needs no gensim at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from jointspace.encoders.base import check_int
from jointspace.encoders.sif import SifEncoder, TokenSpool
from jointspace.errors import JointspaceError


class Word2VecEncoder(SifEncoder):
    """Word vectors of ``dim`` dimensions learnt with gensim ``Word2Vec`` (CBOW by default)."""

    name = "word2vec"
    words_: list[str] | None = None
    vectors_: np.ndarray | None = None

    def __init__(self, dim: int = 100, window: int = 5, min_count: int = 2, epochs: int = 5, sg: bool = False,
                 negative: int = 5, lowercase: bool = True, sif_a: float = 1e-3, workers: int = 2, seed: int = 0,
                 spool_dir: str | None = None) -> None:
        self.dim = dim
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.sg = sg
        self.negative = negative
        self.lowercase = lowercase
        self.sif_a = sif_a
        self.workers = workers
        self.seed = seed
        self.spool_dir = spool_dir
        self._index: dict[str, int] = {}

    def _rows(self, tokens: list[str]) -> np.ndarray:
        return np.array([self._index.get(t, -1) for t in tokens], dtype=np.int64)

    def _table(self) -> np.ndarray:
        return self.vectors_

    def fit(self, items: Iterable[str], y: object = None, progress: Callable[[int], None] | None = None
            ) -> Word2VecEncoder:
        from gensim.models import Word2Vec

        for what, least in (("dim", 1), ("window", 1), ("min_count", 1), ("epochs", 1), ("negative", 0),
                            ("workers", 1)):
            check_int("word2vec", what, getattr(self, what), least)
        with TokenSpool(self.lowercase, self.spool_dir) as spool:
            try:
                spool.consume(items)
            except JointspaceError as exc:
                raise JointspaceError(f"word2vec: {exc}") from exc
            kept = [w for w, c in spool.counts.items() if c >= self.min_count]
            if not kept:
                raise JointspaceError(f"word2vec: no word occurs at least min_count={self.min_count} times in the "
                                      f"corpus ({spool.n_docs} texts); lower min_count or give more text")
            model = Word2Vec(vector_size=self.dim, window=self.window, min_count=self.min_count, sg=int(self.sg),
                             negative=self.negative, workers=self.workers, seed=self.seed)
            model.build_vocab(corpus_file=str(spool.path))
            model.train(corpus_file=str(spool.path), total_examples=model.corpus_count,
                        total_words=model.corpus_total_words, epochs=self.epochs)
            self.words_ = list(model.wv.index_to_key)
            self.vectors_ = np.ascontiguousarray(model.wv.vectors, dtype=np.float32)
            self._index = {w: i for i, w in enumerate(self.words_)}
            self._fit_sif(spool)
        return self

    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            (path / "words.json").write_text(json.dumps(self.words_))
            np.save(path / "vectors.npy", self.vectors_)
            self._save_sif(path)

    def _load_state(self, path: Path) -> None:
        if (path / "vectors.npy").exists():
            self.words_ = json.loads((path / "words.json").read_text())
            self.vectors_ = np.load(path / "vectors.npy")
            self._index = {w: i for i, w in enumerate(self.words_)}
            self._load_sif(path)
