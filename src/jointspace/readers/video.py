"""Video files through PyAV: sampled frames (N per clip, or one every ``every`` seconds) and the audio track.

Frames are found by seeking to each target time (the nearest earlier keyframe, then decoding forward),
so a long video is not decoded whole. A damaged or truncated file is an ``ItemError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import ItemError
from jointspace.readers.audio import SAMPLE_RATE, load_audio
from jointspace.readers.files import checked_file

MAX_SECONDS = 3 * 3600.0


@dataclass
class Video:
    path: Path
    duration: float
    frames: list[Any] = field(default_factory=list)  # RGB PIL images
    times: list[float] = field(default_factory=list)  # seconds, one per frame
    audio: np.ndarray | None = None  # 16 kHz mono, or None without an audio track


def _targets(duration: float, frames: int, every: float | None) -> list[float]:
    if every:
        return list(np.arange(every / 2, max(duration, every / 2 + 1e-3), every))
    return [duration * (i + 0.5) / frames for i in range(frames)]


def load_video(path: str | Path, frames: int = 8, every: float | None = None, audio: bool = True,
               max_seconds: float = MAX_SECONDS, max_audio_seconds: float = 600.0) -> Video:
    """Sampled frames and the audio track of a video file."""
    import av

    path = checked_file(path)
    label = str(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ItemError(label, f"not a readable video file ({str(exc).splitlines()[0][:160]})") from None
    with container:
        if not container.streams.video:
            raise ItemError(label, "no video stream in the file")
        stream = container.streams.video[0]
        duration = 0.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        if duration > max_seconds:
            raise ItemError(label, f"video of {duration:,.0f} s is over the limit of {max_seconds:,.0f} s")
        video = Video(path, duration)
        try:
            if duration <= 0:  # no declared length: decode through, keep evenly spaced frames
                all_frames = [(float(f.time or 0.0), f.to_image()) for f in container.decode(stream)]
                pick = np.linspace(0, len(all_frames) - 1, min(frames, len(all_frames))).round().astype(int)
                video.times = [all_frames[i][0] for i in pick]
                video.frames = [all_frames[i][1] for i in pick]
                video.duration = all_frames[-1][0] if all_frames else 0.0
            else:
                for target in _targets(duration, frames, every):
                    container.seek(int(target / stream.time_base), stream=stream, backward=True)
                    for frame in container.decode(stream):
                        if frame.time is None or frame.time >= target - 1e-3:
                            video.frames.append(frame.to_image())
                            video.times.append(float(frame.time if frame.time is not None else target))
                            break
        except av.error.FFmpegError as exc:
            if not video.frames:
                raise ItemError(label, f"cannot decode video ({str(exc).splitlines()[0][:160]})") from None
        if not video.frames:
            raise ItemError(label, "no decodable video frame")
        has_audio = bool(container.streams.audio)
    if audio and has_audio:
        try:
            video.audio = load_audio(path, max_seconds=max_audio_seconds, min_seconds=0.0)
        except ItemError:
            video.audio = None  # an unusable track: the frames still describe the video
    return video


def audio_seconds(video: Video) -> float:
    return 0.0 if video.audio is None else len(video.audio) / SAMPLE_RATE
