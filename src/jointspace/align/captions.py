"""Caption retrieval: the captions closest to an image among a candidate set, with their scores.

Without a space the image goes through the zero-shot bridge (``image-text``) into the text space;
with a joint space, the image and the captions each go through their own side of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import JointspaceError

CAPTION_FIELDS = ("caption", "text")


@dataclass
class Caption:
    text: str
    score: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.text, "score": round(self.score, 6), "source": self.source}


def read_captions(path: str | Path, field: str | None = None) -> list[tuple[str, str]]:
    """(caption, where it came from) from a text file (one per line), a records file (``field``),
    or every ``.txt`` file under a folder."""
    from jointspace.readers.records import FORMATS, read_records

    path = Path(path)
    if not path.exists():
        raise JointspaceError(f"{path}: no such file or folder")
    out: list[tuple[str, str]] = []
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        for file in files:
            out += read_captions(file)
    elif path.suffix.lower() in FORMATS:
        source = read_records(path)
        for n, record in enumerate(source, start=1):
            names = [field] if field else [f for f in CAPTION_FIELDS if f in record]
            value = record.get(names[0]) if names else None
            if isinstance(value, str) and value.strip():
                out.append((value.strip(), f"{path.name}:{n}"))
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise JointspaceError(f"{path}: not a UTF-8 text file ({exc.reason})") from exc
        out = [(line.strip(), f"{path.name}:{n}") for n, line in enumerate(text.splitlines(), start=1)
               if line.strip()]
    if not out and not path.is_dir():
        raise JointspaceError(f"{path}: no captions in it")
    if not out:
        raise JointspaceError(f"{path}: no captions in any .txt file under it")
    return out


def rank_captions(image: Any, captions: list[tuple[str, str]] | list[str], k: int = 5,
                  space: Any = None) -> list[Caption]:
    """The ``k`` captions closest to ``image`` (a path, bytes, PIL image or array), best first."""
    from jointspace.align.space import JointSpace
    from jointspace.encoders import encoder

    if k < 1:
        raise JointspaceError(f"k must be at least 1, got {k}")
    pairs = [(c, "") if isinstance(c, str) else c for c in captions]
    if not pairs:
        raise JointspaceError("no candidate captions")
    texts = [c for c, _ in pairs]
    if space is not None:
        space = space if isinstance(space, JointSpace) else JointSpace.load(space)
        image_vector = space.encode([image], "image")
        text_vectors = space.encode(texts, "text")
    else:
        bridge = encoder("image-text")
        image_vector = bridge.encode([image])
        text_vectors = bridge.encode_text(texts)
    scores = (text_vectors @ image_vector[0]).astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return [Caption(texts[i], float(scores[i]), pairs[i][1]) for i in order]
