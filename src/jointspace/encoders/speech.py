"""Speech into the text space: voice activity detection (silero-vad), a transcript (pocketsphinx), then
the text encoder (MiniLM). The transcript is the bridge, so spoken and written words meet.

``encode_with_details`` also returns each clip's transcript, which a collection stores in the item's
fields. A clip with no recognised words is embedded as the text ``NO_SPEECH`` (it is still searchable
as "a sound"). Transcripts can be cached on disk by the audio's content hash (``cache=True``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, check_texts, l2_normalise
from jointspace.errors import ItemError
from jointspace.readers.audio import MAX_SECONDS, SAMPLE_RATE, load_audio

NO_SPEECH = "a sound recording without speech"
ASR_VERSION = 1  # bump when the recogniser's settings change (invalidates cached transcripts)
_ASR_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _vad() -> Any:
    import warnings

    from silero_vad import load_silero_vad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return load_silero_vad(onnx=True)


@lru_cache(maxsize=1)
def _decoder() -> Any:
    from pocketsphinx import Decoder

    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")


def speech_segments(samples: np.ndarray, pad: float = 0.2) -> list[tuple[int, int]]:
    """(start, end) sample ranges that hold speech, padded by ``pad`` seconds and merged."""
    import torch
    from silero_vad import get_speech_timestamps

    with torch.no_grad():
        stamps = get_speech_timestamps(torch.from_numpy(samples), _vad(), sampling_rate=SAMPLE_RATE)
    pad_n = int(pad * SAMPLE_RATE)
    merged: list[tuple[int, int]] = []
    for s in stamps:
        start, end = max(0, s["start"] - pad_n), min(len(samples), s["end"] + pad_n)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def recognise(samples: np.ndarray) -> str:
    """pocketsphinx's transcript of 16 kHz mono samples (lower case, may be empty)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    with _ASR_LOCK:
        decoder = _decoder()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
    return " ".join(hyp.hypstr.split()) if hyp is not None else ""


def transcribe(samples: np.ndarray, vad: bool = True) -> tuple[str, float]:
    """(transcript, seconds of speech): recognition runs on the voiced parts only."""
    segments = speech_segments(samples) if vad else [(0, len(samples))]
    words = [recognise(samples[a:b]) for a, b in segments]
    return " ".join(w for w in words if w), sum(b - a for a, b in segments) / SAMPLE_RATE


class SpeechEncoder(Encoder):
    """Audio clips (paths, bytes or (samples, rate)) -> text-space vectors of what is said."""

    name = "speech"
    modality = "audio"
    space = "text"

    def __init__(self, text_encoder: str = "minilm", vad: bool = True, max_seconds: float = MAX_SECONDS,
                 cache: bool = True) -> None:
        self.text_encoder = text_encoder
        self.vad = vad
        self.max_seconds = max_seconds
        self.cache = cache

    @property
    def dim(self) -> int:
        return self._text().dim

    def _text(self) -> Encoder:
        from jointspace.encoders import encoder as make_encoder

        return make_encoder(self.text_encoder)

    def encode_text(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._text().encode(check_texts(texts), batch_size=batch_size)

    def load(self, items: Sequence[Any]) -> list[np.ndarray]:
        """Decode every clip first: the first bad one raises ItemError with its position."""
        out = []
        for i, item in enumerate(items):
            try:
                out.append(load_audio(item, max_seconds=self.max_seconds))
            except ItemError as exc:
                raise ItemError(exc.item, exc.reason, position=i) from None
        return out

    def transcripts(self, clips: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        """Per decoded clip: transcript, duration and seconds of speech (cached by content when asked)."""
        out = []
        for samples in clips:
            key = hashlib.sha256(samples.tobytes()).hexdigest() + f"-vad{int(self.vad)}-v{ASR_VERSION}"
            found = _cached(key) if self.cache else None
            if found is None:
                text, speech = transcribe(samples, vad=self.vad)
                found = {"transcript": text, "speech_seconds": round(speech, 2)}
                if self.cache:
                    _store(key, found)
            out.append({**found, "duration": round(len(samples) / SAMPLE_RATE, 2)})
        return out

    def from_details(self, details: Sequence[dict[str, Any]]) -> np.ndarray:
        texts = [d["transcript"] or NO_SPEECH for d in details]
        return self._text().encode(texts) if texts else np.zeros((0, self.dim), np.float32)

    def encode_with_details(self, items: Sequence[Any], batch_size: int = 64) -> tuple[np.ndarray, list[dict]]:
        details = self.transcripts(self.load(list(items)))
        return l2_normalise(self.from_details(details)), details

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.encode_with_details(items, batch_size)[0]


def _cache_file(key: str) -> Any:
    from jointspace.cache import cache_dir

    return cache_dir() / "transcripts" / f"{key}.json"


def _cached(key: str) -> dict[str, Any] | None:
    import json

    path = _cache_file(key)
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        return None


def _store(key: str, value: dict[str, Any]) -> None:
    import json
    import os

    path = _cache_file(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)
