"""The small media samples that ship with jointspace (for the demo and the tests).

``asterisk``: 15 US-English voice prompts (Allison Smith, CC-BY-SA-3.0) and 2 Italian ones (Carlo Flora,
CC-BY-3.0), 8 kHz WAV, with transcripts; ``fashion-mnist``: 3 test images per class (MIT).
See the ATTRIBUTION.txt / LICENSE files beside them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def sample_dir(name: str) -> Path:
    return Path(str(resources.files("jointspace") / "data" / "samples" / name))


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str  # the transcript (speech), or the class (images)
    language: str = ""


def _rows(name: str, table: str) -> list[dict[str, str]]:
    with open(sample_dir(name) / table, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def speech_samples() -> list[Sample]:
    root = sample_dir("asterisk")
    return [Sample(root / r["file"], r["transcript"], r["language"]) for r in _rows("asterisk", "transcripts.tsv")]


def image_samples() -> list[Sample]:
    root = sample_dir("fashion-mnist")
    return [Sample(root / r["file"], r["label"]) for r in _rows("fashion-mnist", "labels.tsv")]
