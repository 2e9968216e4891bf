"""Video into the text space: sampled frames through the image bridge (ConSE), pooled, plus the audio
track through the speech bridge; one vector per video, or per-segment vectors with timestamps.

The video vector is the normalised mean of the frames' vector and, when words were recognised in the
audio track, the transcript's vector (equal weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, check_texts, l2_normalise
from jointspace.encoders.image_text import ImageTextEncoder, labels_of
from jointspace.encoders.speech import SpeechEncoder, speech_segments
from jointspace.errors import ItemError
from jointspace.readers.audio import SAMPLE_RATE
from jointspace.readers.video import Video, load_video


class VideoEncoder(Encoder):
    """Video files -> text-space vectors (frames + speech)."""

    name = "video"
    modality = "video"
    space = "text"

    def __init__(self, frames: int = 8, every: float = 0.0, speech: bool = True, text_encoder: str = "minilm",
                 top: int = 10) -> None:
        self.frames = frames
        self.every = every
        self.speech = speech
        self.text_encoder = text_encoder
        self.top = top

    @property
    def bridge(self) -> ImageTextEncoder:
        return ImageTextEncoder(text_encoder=self.text_encoder, top=self.top)

    @property
    def speech_encoder(self) -> SpeechEncoder:
        return SpeechEncoder(text_encoder=self.text_encoder)

    @property
    def dim(self) -> int:
        return self.bridge.dim

    def encode_text(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.bridge.encode_text(check_texts(texts), batch_size=batch_size)

    def load(self, items: Sequence[Any]) -> list[Video]:
        out = []
        for i, item in enumerate(items):
            try:
                out.append(load_video(item, frames=self.frames, every=self.every or None, audio=self.speech))
            except ItemError as exc:
                raise ItemError(exc.item, exc.reason, position=i) from None
        return out

    def _frame_vectors(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        proba = self.bridge.image_encoder.run(video.frames)[1]
        from jointspace.encoders.efficientnet import softmax

        proba = softmax(proba)
        return self.bridge.from_proba(proba), proba

    def encode_videos(self, videos: Sequence[Video]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        vectors, details = [], []
        for video in videos:
            frame_vectors, proba = self._frame_vectors(video)
            parts = [l2_normalise(frame_vectors.mean(axis=0, keepdims=True))[0]]
            info: dict[str, Any] = {"duration": round(video.duration, 2), "frames": len(video.frames),
                                    "labels": labels_of(proba.mean(axis=0))}
            if self.speech and video.audio is not None and len(video.audio) >= 0.1 * SAMPLE_RATE:
                said = self.speech_encoder.transcripts([video.audio])[0]
                info["transcript"] = said["transcript"]
                if said["transcript"]:
                    parts.append(self.speech_encoder.from_details([said])[0])
            vectors.append(np.mean(parts, axis=0))
            details.append(info)
        return l2_normalise(np.stack(vectors)), details

    def encode_with_details(self, items: Sequence[Any], batch_size: int = 8) -> tuple[np.ndarray, list[dict]]:
        return self.encode_videos(self.load(list(items)))

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.encode_with_details(items)[0]

    def segments(self, item: Any) -> list[dict[str, Any]]:
        """Per-segment vectors with timestamps: one per sampled frame (``kind="frame"``) and one per
        stretch of speech in the audio track (``kind="speech"``, with its transcript)."""
        video = self.load([item])[0]
        frame_vectors, proba = self._frame_vectors(video)
        half = video.duration / max(len(video.frames), 1) / 2
        out: list[dict[str, Any]] = [
            {"kind": "frame", "start": round(max(0.0, t - half), 2), "end": round(min(video.duration, t + half), 2),
             "vector": v, "labels": labels_of(p)}
            for t, v, p in zip(video.times, frame_vectors, proba, strict=True)]
        if self.speech and video.audio is not None and len(video.audio):
            for a, b in speech_segments(video.audio):
                said = self.speech_encoder.transcripts([video.audio[a:b]])[0]
                if said["transcript"]:
                    out.append({"kind": "speech", "start": round(a / SAMPLE_RATE, 2), "end": round(b / SAMPLE_RATE, 2),
                                "vector": self.speech_encoder.from_details([said])[0],
                                "transcript": said["transcript"]})
        return sorted(out, key=lambda s: (s["start"], s["kind"]))
