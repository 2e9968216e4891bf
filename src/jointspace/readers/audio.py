"""Audio from files or bytes: WAV, FLAC, OGG/Vorbis/Opus, MP3 (and the audio track of a video), as 16 kHz mono.

soundfile (libsndfile) reads WAV/FLAC/OGG/MP3; anything it cannot open is decoded with PyAV (FFmpeg).
The length limit is checked from the header before the samples are decoded, so a 2-hour file is
refused at once; while decoding with PyAV the limit is enforced again (some streams declare no length).
Every failure is an ``ItemError`` naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import ItemError
from jointspace.readers.files import checked_file

SAMPLE_RATE = 16_000
MAX_SECONDS = 600.0  # 10 minutes: speech recognition runs at about real time on one core
MAX_BYTES = 500 * 1024 * 1024
EXTENSIONS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au"}

AudioInput = str | Path | bytes | tuple[np.ndarray, int]


def _label(item: Any) -> str:
    if isinstance(item, str | Path):
        return str(item)
    if isinstance(item, bytes | bytearray):
        return f"<{len(item)} bytes>"
    return f"<{type(item).__name__}>"


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 at ``target`` Hz (soxr, high quality)."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if rate != target and len(samples):
        import soxr

        samples = soxr.resample(samples, rate, target).astype(np.float32)
    return samples


def _too_long(label: str, seconds: float, max_seconds: float) -> ItemError:
    return ItemError(label, f"audio of {seconds:,.0f} s is over the limit of {max_seconds:,.0f} s "
                            f"(split it, or raise max_seconds)")


def _read_soundfile(source: Any, label: str, max_seconds: float, target: int) -> np.ndarray | None:
    import soundfile as sf

    try:
        info = sf.info(source)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError):
        return None  # not something libsndfile knows: try PyAV
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    if info.frames > 0 and info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
        raise _too_long(label, info.frames / info.samplerate, max_seconds)
    try:
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise ItemError(label, f"cannot decode audio: {exc}") from None
    return resample(samples, rate, target)


def _read_pyav(source: Any, label: str, max_seconds: float, target: int) -> np.ndarray:
    import av

    try:
        container = av.open(source)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ItemError(label, f"not a readable audio or video file ({_short(exc)})") from None
    with container:
        if not container.streams.audio:
            raise ItemError(label, "no audio stream in the file")
        stream = container.streams.audio[0]
        declared = None
        if stream.duration and stream.time_base:
            declared = float(stream.duration * stream.time_base)
        elif container.duration:
            declared = container.duration / 1_000_000
        if declared and declared > max_seconds:
            raise _too_long(label, declared, max_seconds)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
        chunks, total, limit = [], 0, int(max_seconds * target)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if total > limit:
                    raise _too_long(label, total / target, max_seconds)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise ItemError(label, f"cannot decode audio ({_short(exc)})") from None
            # a damaged tail: keep what decoded
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).split("\n")[0][:160]


def load_audio(item: AudioInput, sample_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS,
               min_seconds: float = 0.05, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Mono float32 samples at ``sample_rate`` from a path, bytes or ``(array, rate)``; ItemError if unusable."""
    label = _label(item)
    if isinstance(item, tuple):
        samples, rate = item
        samples = resample(np.asarray(samples, dtype=np.float32), int(rate), sample_rate)
        source: Any = None
    elif isinstance(item, str | Path):
        source = str(checked_file(item, label, max_bytes))
    elif isinstance(item, bytes | bytearray):
        if not item:
            raise ItemError(label, "empty audio data")
        source = io.BytesIO(item)
    else:
        raise ItemError(label, f"expected an audio path, bytes or (samples, rate), got {type(item).__name__}")
    if source is not None:
        samples = _read_soundfile(source, label, max_seconds, sample_rate)
        if samples is None:
            samples = _read_pyav(source, label, max_seconds, sample_rate)
    if len(samples) > max_seconds * sample_rate:
        raise _too_long(label, len(samples) / sample_rate, max_seconds)
    if len(samples) < min_seconds * sample_rate:
        raise ItemError(label, f"audio of {len(samples) / sample_rate:.3f} s is too short (no samples to use)")
    if not np.isfinite(samples).all():
        raise ItemError(label, "audio holds NaN or infinite samples")
    return samples


def duration(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    return len(samples) / sample_rate
