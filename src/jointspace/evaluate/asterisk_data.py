"""Asterisk voice prompts: 568 real recordings (Allison Smith, 8 kHz) and their transcripts, CC-BY-SA-3.0.

Read out of Debian's asterisk-core-sounds-en-wav (audio) and asterisk-core-sounds-en (transcripts).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"
TRANSCRIPTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"


@dataclass(frozen=True)
class Prompt:
    name: str  # e.g. "vm-goodbye", "digits/5"
    path: Path
    transcript: str


def normalise(text: str) -> str:
    """Transcripts compared without case, punctuation or spacing ("Goodbye." == "goodbye")."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def load_prompts() -> list[Prompt]:
    """Every prompt that has both a WAV file and a transcript, sorted by name."""
    from jointspace.cache import deb_files

    root = deb_files("asterisk-core-sounds-en-wav") / SOUNDS
    texts: dict[str, str] = {}
    with gzip.open(deb_files("asterisk-core-sounds-en") / TRANSCRIPTS, "rt", encoding="utf-8",
                   errors="replace") as fh:
        for line in fh:
            if ":" in line and not line.startswith(";"):
                name, text = line.split(":", 1)
                texts[name.strip()] = " ".join(text.split())
    prompts = []
    for path in sorted(root.rglob("*.wav")):
        name = path.relative_to(root).with_suffix("").as_posix()
        if texts.get(name):
            prompts.append(Prompt(name, path, texts[name]))
    return prompts
