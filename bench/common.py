"""Helpers the benchmarks share: pretrained-encoder vectors computed once, optionally kept on disk."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from jointspace.tasks.features import EncoderFeatures


def encoded(name: str, texts: list[str], cache: Path | None) -> np.ndarray:
    """The texts' vectors from a pretrained encoder, read from / written to ``cache`` when given."""
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    file = cache / f"{name}-{digest}.npy" if cache else None
    if file and file.exists():
        return np.load(file)
    start = time.perf_counter()
    vectors = EncoderFeatures(name).fit([]).transform(texts)
    print(f"  encoded {len(texts)} texts with {name} in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    if file:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, vectors)
    return vectors
