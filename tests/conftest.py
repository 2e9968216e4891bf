"""Shared fixtures: small real samples and fresh collections."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def wordnet_records() -> list[dict]:
    """300 real WordNet noun synsets as records: id, word, definition, pos, and a numeric field."""
    from jointspace.evaluate.datasets import wordnet_sample

    return [
        {"id": s.id, "word": s.word, "text": s.definition, "pos": s.pos, "n_lemmas": len(s.lemmas),
         "group": ["a", "b", "c"][i % 3], "rank": i}
        for i, s in enumerate(wordnet_sample(300, seed=1))
    ]


#: lines a test wants shown at the end of the run (e.g. how many crash trials ran and how they ended)
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: object) -> None:
    if REPORT:
        terminalreporter.write_sep("-", "jointspace fault tests")  # type: ignore[attr-defined]
        for line in REPORT:
            terminalreporter.write_line(line)  # type: ignore[attr-defined]
