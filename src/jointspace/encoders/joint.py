"""One encoder for every modality: all of them land in the text hub space (MiniLM, 384-d).

An item is one of:
- a ``str``: text;
- a ``pathlib.Path``: a file, whose modality is detected by content (text, image, audio, video);
- a ``dict`` of parts, e.g. ``{"text": "red sneaker", "image": "shoe.jpg"}`` (keys: text, image, audio,
  video, file); the item's vector is the normalised mean of its parts' vectors.

Bridges: images by ConSE over ImageNet class names, audio by its transcript, video by both, text files
by their first ``max_chars`` characters. ``encode_with_details`` tells what each item was (modality,
the image's labels, the transcript, a text snippet), which a collection keeps in the item's fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, check_texts, l2_normalise
from jointspace.errors import ItemError
from jointspace.readers.detect import MODALITIES, detect_modality

PART_KEYS = ("text", "image", "audio", "video", "file")


def _label(item: Any) -> str:
    if isinstance(item, Path):
        return str(item)
    if isinstance(item, dict):
        for key in ("file", "image", "audio", "video"):
            if item.get(key):
                return str(item[key])
        return "record"
    return f"text {str(item)[:40]!r}"


class JointEncoder(Encoder):
    """Texts, images, audio, video and files -> one space."""

    name = "joint"
    modality = "joint"
    space = "text"

    def __init__(self, text_encoder: str = "minilm", top: int = 10, video_frames: int = 8,
                 max_chars: int = 2000, speech_cache: bool = True) -> None:
        self.text_encoder = text_encoder
        self.top = top
        self.video_frames = video_frames
        self.max_chars = max_chars
        self.speech_cache = speech_cache

    # -- the parts ------------------------------------------------------------------------------
    def _text(self) -> Encoder:
        from jointspace.encoders import encoder as make_encoder

        return make_encoder(self.text_encoder)

    def _image(self) -> Any:
        from jointspace.encoders.image_text import ImageTextEncoder

        return ImageTextEncoder(text_encoder=self.text_encoder, top=self.top)

    def _audio(self) -> Any:
        from jointspace.encoders.speech import SpeechEncoder

        return SpeechEncoder(text_encoder=self.text_encoder, cache=self.speech_cache)

    def _video(self) -> Any:
        from jointspace.encoders.video import VideoEncoder

        return VideoEncoder(frames=self.video_frames, text_encoder=self.text_encoder, top=self.top)

    @property
    def dim(self) -> int:
        return self._text().dim

    def encode_text(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._text().encode(check_texts(texts), batch_size=batch_size)

    # -- items -> parts ---------------------------------------------------------------------------
    def parts(self, item: Any) -> list[tuple[str, Any]]:
        """(modality, payload) pairs of one item; files are sniffed, text files read."""
        if isinstance(item, str):
            return [("text", check_texts([item])[0])]
        if isinstance(item, Path):
            item = {"file": item}
        if not isinstance(item, dict):
            raise ItemError(_label(item), f"expected text, a Path or a dict of parts, got {type(item).__name__}")
        unknown = set(item) - set(PART_KEYS)
        if unknown:
            raise ItemError(_label(item), f"unknown part(s) {sorted(unknown)}; use {PART_KEYS}")
        out = []
        for key in PART_KEYS:
            value = item.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if key == "text":
                out.append(("text", str(value)))
                continue
            path = Path(value)
            modality = detect_modality(path) if key == "file" else key
            if key != "file" and not path.is_file():
                raise ItemError(str(path), "no such file")
            if modality == "text":
                out.append(("text-file", path))
            else:
                out.append((modality, path))
        if not out:
            raise ItemError(_label(item), "nothing to embed (no text and no file)")
        return out

    def _read_text_file(self, path: Path) -> str:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(self.max_chars)
        if not text.strip():
            raise ItemError(str(path), "empty text file")
        return text

    # -- encoding ---------------------------------------------------------------------------------
    def encode_with_details(self, items: Sequence[Any], batch_size: int = 32) -> tuple[np.ndarray, list[dict]]:
        """Vectors and, per item, what it was: {"modality", "labels" | "transcript" | "snippet", ...}."""
        items = list(items)
        plan: list[list[tuple[str, Any]]] = []
        for i, item in enumerate(items):
            try:
                plan.append(self.parts(item))
            except ItemError as exc:
                raise ItemError(exc.item, exc.reason, position=i) from None
        # decode every media part before any network runs, so a bad file costs no model time
        queues: dict[str, list[tuple[int, int, Any]]] = {m: [] for m in MODALITIES}
        image, audio, video = self._image(), self._audio(), self._video()
        for i, parts in enumerate(plan):
            for j, (modality, payload) in enumerate(parts):
                try:
                    if modality == "text-file":
                        modality, payload = "text", self._read_text_file(payload)
                    elif modality == "image":
                        payload = image.image_encoder.load([payload])[0]
                    elif modality == "audio":
                        payload = audio.load([payload])[0]
                    elif modality == "video":
                        payload = video.load([payload])[0]
                except ItemError as exc:
                    raise ItemError(exc.item, exc.reason, position=i) from None
                parts[j] = (modality, payload)
                queues[modality].append((i, j, payload))
        vectors: dict[tuple[int, int], np.ndarray] = {}
        info: dict[tuple[int, int], dict[str, Any]] = {}
        if queues["text"]:
            texts = [p for _, _, p in queues["text"]]
            for (i, j, text), v in zip(queues["text"], self._text().encode(texts, batch_size=batch_size),
                                       strict=True):
                vectors[i, j] = v
                info[i, j] = {"snippet": " ".join(text.split())[:200]}
        if queues["image"]:
            from jointspace.encoders.image_text import labels_of

            proba = image.image_encoder.run([p for _, _, p in queues["image"]], batch_size=batch_size)[1]
            from jointspace.encoders.efficientnet import softmax

            proba = softmax(proba)
            for (i, j, _), v, p in zip(queues["image"], image.from_proba(proba), proba, strict=True):
                vectors[i, j], info[i, j] = v, {"labels": labels_of(p)}
        if queues["audio"]:
            said = audio.transcripts([p for _, _, p in queues["audio"]])
            for (i, j, _), v, d in zip(queues["audio"], audio.from_details(said), said, strict=True):
                vectors[i, j], info[i, j] = v, d
        if queues["video"]:
            v_all, d_all = video.encode_videos([p for _, _, p in queues["video"]])
            for (i, j, _), v, d in zip(queues["video"], v_all, d_all, strict=True):
                vectors[i, j], info[i, j] = v, d
        out = np.zeros((len(items), self.dim), np.float32)
        details = []
        for i, parts in enumerate(plan):
            out[i] = l2_normalise(np.stack([vectors[i, j] for j in range(len(parts))]).mean(axis=0)[None])[0]
            detail: dict[str, Any] = {"modality": "+".join(m for m in MODALITIES if any(p[0] == m for p in parts))}
            for j in range(len(parts)):
                for key, value in info[i, j].items():
                    detail.setdefault(key, value)
            details.append(detail)
        return out, details

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.encode_with_details(items, batch_size=min(batch_size, 32))[0]


def modality_combinations(modality: str) -> list[str]:
    """Every stored "modality" value that includes ``modality`` (e.g. "image", "text+image", ...)."""
    from itertools import combinations

    out = []
    for r in range(1, len(MODALITIES) + 1):
        for combo in combinations(MODALITIES, r):
            if modality in combo:
                out.append("+".join(combo))
    return out
