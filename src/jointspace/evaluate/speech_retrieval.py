"""Transcript -> audio retrieval on the Asterisk prompts, through the speech bridge (VAD + ASR + MiniLM)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from jointspace.encoders import encoder as make_encoder
from jointspace.evaluate.asterisk_data import load_prompts, normalise
from jointspace.evaluate.metrics import first_relevant_rank, retrieval_metrics
from jointspace.ranking import top_k


def asterisk_prompts(n: int | None = None, seed: int = 0, k: int = 10, batch_size: int = 16,
                     progress: Callable[[int], None] | None = None, encoder: str = "speech",
                     **encoder_params: Any) -> dict[str, float]:
    """Query with each prompt's written transcript; find its recording among all ``n`` clips.

    A hit is any clip whose transcript is the same text (a few prompts share one, e.g. "Thank you").
    Also reports the audio real-time factor of the encoder (seconds of work per second of audio).
    """
    prompts = load_prompts()
    if n is not None and n < len(prompts):
        keep = sorted(np.random.default_rng(seed).choice(len(prompts), n, replace=False))
        prompts = [prompts[i] for i in keep]
    enc = make_encoder(encoder, **encoder_params)
    vectors, seconds = [], 0.0
    start = time.perf_counter()
    for i in range(0, len(prompts), batch_size):
        batch = prompts[i:i + batch_size]
        v, details = enc.encode_with_details([p.path for p in batch])
        vectors.append(v)
        seconds += sum(d["duration"] for d in details)
        if progress:
            progress(len(batch))
    elapsed = time.perf_counter() - start
    audio = np.concatenate(vectors)
    queries = enc.encode_text([p.transcript for p in prompts])
    _, best = top_k(queries @ audio.T, max(k, 10))
    keys = [normalise(p.transcript) for p in prompts]
    ranks = [first_relevant_rank([keys[j] for j in row], {keys[q]}) for q, row in enumerate(best)]
    metrics = retrieval_metrics(ranks, ks=(1, 10))
    metrics.pop("median_rank", None)
    metrics["audio_seconds"] = round(seconds, 1)
    metrics["real_time_factor"] = round(elapsed / seconds, 4) if seconds else float("nan")
    return metrics
