"""Log-mel statistics for sounds that are not speech (beeps, music, noise): no model, no training needed.

Per clip: a 64-band log-mel spectrogram (25 ms windows, 10 ms hop); per band its mean (relative to
the clip's overall level, so loudness does not matter), its standard deviation over time and its mean
absolute frame-to-frame change (see ``stats``). ``fit`` (optional) learns a per-dimension standardisation
from a collection's clips (it must be fitted, like a scaler: raw statistics of natural sounds all
share the same spectral tilt, so unstandardised vectors would all be near-parallel).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder
from jointspace.errors import ItemError
from jointspace.readers.audio import MAX_SECONDS, SAMPLE_RATE, load_audio

N_MELS = 64
N_FFT = 512
WIN = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms


@lru_cache(maxsize=2)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE,
                   fmin: float = 50.0, fmax: float = 8000.0) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the HTK mel scale."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(np.array(fmin)), mel(np.array(fmax)), n_mels + 2))
    bins = np.linspace(0, rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bins - lower) / (centre - lower)
    down = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(frames, N_MELS) log-mel energies in dB."""
    if len(samples) < WIN:
        samples = np.pad(samples, (0, WIN - len(samples)))
    n_frames = 1 + (len(samples) - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = samples[idx] * np.hanning(WIN).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2
    return 10.0 * np.log10(power @ mel_filterbank().T + 1e-10)


def stats(samples: np.ndarray) -> np.ndarray:
    """The 194 statistics of one clip, on a fixed scale (dB / 20).

    Each block of 64 is centred on its own average, so the vector describes the spectral shape, how it
    varies and how fast; the two averages (overall variation and change) follow as two more numbers.
    """
    spec = log_mel(samples)
    mean, std = spec.mean(axis=0), spec.std(axis=0)
    delta = np.abs(np.diff(spec, axis=0)).mean(axis=0) if len(spec) > 1 else np.zeros(N_MELS)
    blocks = [mean - mean.mean(), std - std.mean(), delta - delta.mean(), [std.mean(), delta.mean()]]
    return np.concatenate(blocks).astype(np.float32) / 20.0


class AudioStatsEncoder(Encoder):
    """Audio clips -> 194-d log-mel statistics (similar-sounding clips land close)."""

    name = "audio-stats"
    modality = "audio"
    trainable = True
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None

    def __init__(self, max_seconds: float = MAX_SECONDS) -> None:
        self.max_seconds = max_seconds

    @property
    def dim(self) -> int:
        return 3 * N_MELS + 2

    @property
    def is_fitted(self) -> bool:
        return self.mean_ is not None

    def load(self, items: Sequence[Any]) -> list[np.ndarray]:
        out = []
        for i, item in enumerate(items):
            try:
                out.append(load_audio(item, max_seconds=self.max_seconds))
            except ItemError as exc:
                raise ItemError(exc.item, exc.reason, position=i) from None
        return out

    def raw(self, items: Sequence[Any]) -> np.ndarray:
        return np.stack([stats(s) for s in self.load(items)]) if items else np.zeros((0, self.dim), np.float32)

    def fit(self, items: Iterable[Any], y: object = None) -> AudioStatsEncoder:
        """Learn a per-dimension standardisation; clips that fail to load are left out."""
        rows = []
        for item in items:
            try:
                rows.append(stats(load_audio(item, max_seconds=self.max_seconds)))
            except ItemError:
                continue
        if not rows:
            raise ItemError("audio-stats fit", "no usable clip to learn the standardisation from")
        data = np.stack(rows)
        self.mean_ = data.mean(axis=0)
        self.scale_ = data.std(axis=0) + 0.05 if len(rows) > 1 else np.ones(self.dim, np.float32)
        return self

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        return (self.raw(items) - self.mean_) / self.scale_

    def _save_state(self, path: Path) -> None:
        if self.mean_ is not None and self.scale_ is not None:
            np.savez(path / "standardise.npz", mean=self.mean_, scale=self.scale_)

    def _load_state(self, path: Path) -> None:
        file = path / "standardise.npz"
        if file.exists():
            data = np.load(file)
            self.mean_, self.scale_ = data["mean"], data["scale"]
