"""Theme scores from a lexicon: how much a text speaks of each theme (e.g. stress, anxiety).

The lexicon maps a theme to words or phrases: a dict, or the path of a JSON file holding one (keys
starting with "_" are comments). Words are stemmed (Snowball English), so "stressful" and "stressed"
count for "stress"; a phrase counts when its stemmed words appear in that order. A theme's score is
its matches divided by the text's number of words. The vector has one dimension per theme plus a last
one, "other", for the share of words that match no theme: scores + other sum to 1 before the usual
L2 normalisation, so the direction keeps the proportions (``scores`` returns them unnormalised).
Without a lexicon the example in ``jointspace/data/stress_lexicon.json`` is used.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, check_texts
from jointspace.encoders.streaming import words
from jointspace.errors import ItemError, JointspaceError

DEFAULT_LEXICON = "stress_lexicon.json"


def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


class ThemeEncoder(Encoder):
    """One score per lexicon theme (plus "other"), length-normalised; no fitting needed."""

    name = "theme"
    modality = "text"
    trainable = False

    def __init__(self, lexicon: dict[str, list[str]] | str | None = None) -> None:
        self.lexicon = lexicon

    # The lexicon is read on first use and kept with the setting it was read from, so that
    # ``set_params(lexicon=...)`` (a grid search) reads the new one.
    _source: Any = None
    _themes: dict[str, list[str]] | None = None  # resolved lexicon
    _patterns: dict[tuple[str, ...], list[int]] | None = None

    # -- the lexicon -------------------------------------------------------------------------------
    def _read(self) -> dict[str, list[str]]:
        source = self.lexicon
        if source is None:
            raw = json.loads((resources.files("jointspace") / "data" / DEFAULT_LEXICON).read_text(encoding="utf-8"))
        elif isinstance(source, dict):
            raw = source
        else:
            path = Path(source)
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError as exc:
                raise JointspaceError(f"theme: lexicon file {path} not found") from exc
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise JointspaceError(f"theme: lexicon {path} is not a JSON object of theme -> words: {exc}") from exc
        if not isinstance(raw, dict):
            raise JointspaceError("theme: the lexicon must be a JSON object / dict of theme -> list of words")
        themes = {}
        for theme, entries in raw.items():
            if str(theme).startswith("_"):
                continue
            if isinstance(entries, str) or not all(isinstance(e, str) for e in entries):
                raise JointspaceError(f"theme: theme {theme!r} must map to a list of words")
            if not entries:
                raise JointspaceError(f"theme: theme {theme!r} has no words")
            themes[str(theme)] = list(entries)
        if not themes:
            raise JointspaceError("theme: the lexicon has no theme")
        return themes

    @property
    def themes(self) -> list[str]:
        return list(self._resolved())

    def _resolved(self) -> dict[str, list[str]]:
        if self._themes is None or self._source is not self.lexicon:
            self._themes, self._patterns, self._source = self._read(), None, self.lexicon
        return self._themes

    def fit(self, X: Any = None, y: Any = None) -> ThemeEncoder:
        """Nothing to learn: reads and checks the lexicon (an error names what is wrong with it)."""
        self._resolved()
        return self

    def _compiled(self) -> dict[tuple[str, ...], list[int]]:
        themes = self._resolved()
        if self._patterns is None:
            stem = _stemmer().stemWords
            patterns: dict[tuple[str, ...], list[int]] = {}
            for t, entries in enumerate(themes.values()):
                for entry in entries:
                    key = tuple(stem(words(entry)))
                    if key and t not in patterns.setdefault(key, []):
                        patterns[key].append(t)
            self._patterns = patterns
        return self._patterns

    @property
    def dim(self) -> int:
        return len(self._resolved()) + 1

    # -- scoring -----------------------------------------------------------------------------------
    def scores(self, items: list[str]) -> np.ndarray:
        """(n, themes + 1): per theme the matched words / all words, then the unmatched share."""
        texts = check_texts(items)
        patterns = self._compiled()
        max_len = max(len(p) for p in patterns)
        n_themes = self.dim - 1
        stem = _stemmer().stemWords
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = stem(words(text))
            if not tokens:
                raise ItemError(f"item {i}", "no words in this text", position=i)
            matched = np.zeros((n_themes, len(tokens)), dtype=bool)  # a word counts once per theme
            for start in range(len(tokens)):
                for length in range(1, min(max_len, len(tokens) - start) + 1):
                    for t in patterns.get(tuple(tokens[start:start + length]), ()):
                        matched[t, start:start + length] = True
            out[i, :n_themes] = matched.mean(axis=1)
            out[i, n_themes] = 1.0 - matched.any(axis=0).mean()
        return out

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.scores(items)

    def _save_state(self, path: Path) -> None:
        (path / "lexicon.json").write_text(json.dumps(self._resolved(), indent=1))

    def _load_state(self, path: Path) -> None:
        if (path / "lexicon.json").exists():
            self._themes = json.loads((path / "lexicon.json").read_text())
            self._patterns, self._source = None, self.lexicon
