"""SIF pooling of word vectors into a text vector (Arora, Liang & Ma, 2017).

A text's vector is the mean of its known words' vectors, each weighted by a / (a + p(w)) where p(w) is
the word's frequency in the fitting corpus (frequent words count less); then the projection on the
corpus' common component (the first singular vector of all its text vectors) is removed. Words without a
vector are skipped; a text none of whose words has one raises ItemError naming it. The common component
is estimated only from corpora of 2 texts or more (with 1 text it would erase that text): otherwise it is
left out.

``fit`` reads the corpus once, writing its tokens to a temporary file (one text per line); training
and the common-component pass read that file, so memory holds the model, not the corpus.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from jointspace.encoders.base import Encoder
from jointspace.encoders.streaming import Texts, words
from jointspace.errors import ItemError, JointspaceError, NotFittedError


class TokenSpool:
    """A corpus tokenised to a temporary file, one text per line, with word counts."""

    def __init__(self, lowercase: bool, directory: str | None = None) -> None:
        self.lowercase = lowercase
        self._dir = tempfile.TemporaryDirectory(prefix="jointspace-tokens-", dir=directory)
        self.path = Path(self._dir.name) / "tokens.txt"
        self.counts: Counter[str] = Counter()
        self.n_docs = 0

    def __enter__(self) -> TokenSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()

    def consume(self, items: Iterable[object]) -> TokenSpool:
        texts = Texts(items)
        with open(self.path, "w", encoding="utf-8") as fh:
            for text in texts:
                tokens = words(text, self.lowercase)
                if tokens:
                    self.counts.update(tokens)
                    fh.write(" ".join(tokens) + "\n")
                    self.n_docs += 1
        if self.n_docs == 0:
            raise JointspaceError("cannot fit on an empty corpus (no text with a word in it)")
        return self

    def lines(self) -> Iterable[list[str]]:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                yield line.split()


class SifEncoder(Encoder):
    """Base of word2vec and spacy-vectors: subclasses give ``_word_vectors`` and fit the word table."""

    modality = "text"
    trainable = True
    lowercase: bool = True
    sif_a: float = 1e-3
    frequencies_: dict[str, float] | None = None  # p(w) over the fitting corpus
    common_component_: np.ndarray | None = None

    @property
    def is_fitted(self) -> bool:
        return self.frequencies_ is not None

    def _rows(self, tokens: list[str]) -> np.ndarray:
        """Each token's row in ``_table()``, -1 when it has no vector."""
        raise NotImplementedError

    def _table(self) -> np.ndarray:
        raise NotImplementedError

    def _word_vectors(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors of the known tokens, mask of which tokens are known)."""
        rows = self._rows(tokens)
        known = rows >= 0
        return self._table()[rows[known]], known

    def word_vectors(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Raw word vectors (zeros for unknown words) and a mask of the known ones."""
        vectors, known = self._word_vectors(terms)
        out = np.zeros((len(terms), self.dim), dtype=np.float32)
        out[known] = vectors
        return out, known

    term_vectors = word_vectors

    def _pool(self, tokens: list[str]) -> np.ndarray | None:
        vectors, known = self._word_vectors(tokens)
        if not known.any():
            return None
        freq = self.frequencies_ or {}
        weights = np.array([self.sif_a / (self.sif_a + freq.get(t, 0.0)) for t, k in zip(tokens, known, strict=True)
                            if k], dtype=np.float32)
        return (weights @ vectors) / len(weights)

    def _fit_sif(self, spool: TokenSpool, progress: Callable[[int], None] | None = None) -> None:
        total = sum(spool.counts.values())
        vocab = list(spool.counts)
        known = self._rows(vocab) >= 0
        self.frequencies_ = {w: spool.counts[w] / total for w, k in zip(vocab, known, strict=True) if k}
        self.common_component_ = None
        if spool.n_docs < 2:
            return
        gram = np.zeros((self.dim, self.dim), dtype=np.float64)
        batch = []
        for tokens in spool.lines():
            vector = self._pool(tokens)
            if vector is not None:
                batch.append(vector)
            if len(batch) == 4096:
                stacked = np.stack(batch)
                gram += stacked.T @ stacked
                batch = []
        if batch:
            stacked = np.stack(batch)
            gram += stacked.T @ stacked
        w, v = np.linalg.eigh(gram)
        self.common_component_ = v[:, -1].astype(np.float32)

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"encoder {self.name!r} must be fitted before encode")
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, text in enumerate(items):
            vector = self._pool(words(text, self.lowercase))
            if vector is None:
                raise ItemError(f"item {i}", f"no word of this text has a {self.name} vector", position=i)
            out[i] = vector
        if self.common_component_ is not None:
            u = self.common_component_
            out -= np.outer(out @ u, u)
        return out

    def _save_sif(self, path: Path) -> None:
        (path / "frequencies.json").write_text(json.dumps(self.frequencies_))
        if self.common_component_ is not None:
            np.save(path / "common_component.npy", self.common_component_)

    def _load_sif(self, path: Path) -> None:
        self.frequencies_ = json.loads((path / "frequencies.json").read_text())
        common = path / "common_component.npy"
        self.common_component_ = np.load(common) if common.exists() else None
