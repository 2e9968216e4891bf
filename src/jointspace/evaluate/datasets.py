"""Loaders for real data sets. WordNet 3.0 ships with the package (its licence allows it)."""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Synset:
    id: str
    pos: str
    lemmas: tuple[str, ...]
    definition: str
    examples: str

    @property
    def word(self) -> str:
        return self.lemmas[0]


def wordnet_synsets(pos: str | None = None) -> list[Synset]:
    """All 117,659 WordNet 3.0 synsets (or those of one part of speech: n, v, a, r)."""
    path = resources.files("jointspace") / "data" / "wordnet.tsv.gz"
    out = []
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        for line in fh:
            sid, p, lemmas, definition, examples = line.rstrip("\n").split("\t")
            if pos is None or p == pos:
                out.append(Synset(sid, p, tuple(lemmas.split(", ")), definition, examples))
    return out


def wordnet_sample(n: int, seed: int = 0, pos: str | None = "n") -> list[Synset]:
    """A seeded sample of ``n`` synsets whose head words are distinct (so each query has one answer word)."""
    synsets = wordnet_synsets(pos)
    rng = random.Random(seed)
    rng.shuffle(synsets)
    out, words = [], set()
    for s in synsets:
        if s.word.lower() in words:
            continue
        words.add(s.word.lower())
        out.append(s)
        if len(out) == n:
            break
    return out
