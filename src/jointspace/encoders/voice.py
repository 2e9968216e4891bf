"""Speaker vectors (resemblyzer, 256-d): clips of the same voice land close, whatever is said.

resemblyzer's ``preprocess_wav`` normalises the volume and trims silences (webrtcvad; that import
needs ``pkg_resources``, hence the setuptools<81 pin). Its own vectors are already unit length.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder
from jointspace.errors import ItemError
from jointspace.readers.audio import MAX_SECONDS, SAMPLE_RATE, load_audio

VOICE_DIM = 256


@lru_cache(maxsize=1)
def _voice_encoder() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder

        return VoiceEncoder(device="cpu", verbose=False)


class VoiceEncoder(Encoder):
    """Audio clips -> speaker vectors (find the same voice)."""

    name = "voice"
    modality = "audio"

    def __init__(self, max_seconds: float = MAX_SECONDS, min_voiced_seconds: float = 0.3) -> None:
        self.max_seconds = max_seconds
        self.min_voiced_seconds = min_voiced_seconds

    @property
    def dim(self) -> int:
        return VOICE_DIM

    def load(self, items: Sequence[Any]) -> list[np.ndarray]:
        out = []
        for i, item in enumerate(items):
            try:
                out.append(load_audio(item, max_seconds=self.max_seconds))
            except ItemError as exc:
                raise ItemError(exc.item, exc.reason, position=i) from None
        return out

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from resemblyzer import preprocess_wav

            clips = self.load(items)
            out = np.zeros((len(clips), VOICE_DIM), np.float32)
            for i, samples in enumerate(clips):
                voiced = preprocess_wav(samples, source_sr=SAMPLE_RATE)
                if len(voiced) < self.min_voiced_seconds * SAMPLE_RATE:
                    raise ItemError(_label(items[i]), f"only {len(voiced) / SAMPLE_RATE:.2f} s of voice; "
                                                      f"a speaker vector needs {self.min_voiced_seconds} s",
                                    position=i)
                out[i] = _voice_encoder().embed_utterance(voiced)
        return out


def _label(item: Any) -> str:
    return str(item) if not isinstance(item, bytes | tuple) else f"<{type(item).__name__}>"
