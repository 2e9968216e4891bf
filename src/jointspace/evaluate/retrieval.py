"""Retrieval evaluations that build a real collection and query it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from jointspace.collection import Collection
from jointspace.encoders import Encoder
from jointspace.encoders import encoder as make_encoder
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.evaluate.metrics import first_relevant_rank, retrieval_metrics


def wordnet_gloss(encoder: str | Encoder = "minilm", n: int = 3000, seed: int = 0, k: int = 10,
                  progress: Callable[[int], None] | None = None, **encoder_params: Any) -> dict[str, float]:
    """Reverse dictionary: query with a synset's definition, find its word among ``n`` words.

    The collection holds one item per synset whose text is its lemmas ("tiger, Panthera tigris");
    the query is the definition ("large feline of forests in most of Asia ..."); a query scores
    when its own synset comes back. Head words are distinct, so each query has one right answer.
    """
    synsets = wordnet_sample(n, seed=seed)
    enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection.create(f"{tmp}/c", encoder=enc, fields=["words"])
        col.add(({"id": s.id, "words": ", ".join(s.lemmas)} for s in synsets), progress=progress)
        hits = col.search_batch([s.definition for s in synsets], k=max(k, 10))
        col.close()
    ranks = [first_relevant_rank([h.id for h in hs], {s.id}) for s, hs in zip(synsets, hits, strict=True)]
    metrics = retrieval_metrics(ranks, ks=(1, 10))
    metrics.pop("median_rank", None)
    return metrics
