"""Evaluations for the classic text encoders: reverse dictionary, review -> plot, word similarity.

Which text a trainable encoder is fitted on (``fit_on``):

* ``"indexed"``: the items put in the collection (what ``jointspace index`` does);
* ``"corpus"``: a larger text corpus of the same data set, with the evaluated queries left out: for
  wordnet-gloss the other WordNet synsets (lemmas + gloss + examples), for rt-plots every plot and every
  review that is not a query. No labels are used.
* ``"auto"`` (default): ``"corpus"`` for encoders that learn a latent space from co-occurrence (lsa, lda,
  word2vec, spacy-vectors: fitted on 3,000 lemma strings they could not relate a gloss to its word),
  ``"indexed"`` for the rest (bow and tfidf keep the vocabulary of the indexed items).

A query the encoder cannot embed (no known word) counts as a miss, so every query is in the figures.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from jointspace.collection import Collection
from jointspace.encoders import Encoder
from jointspace.encoders import encoder as make_encoder
from jointspace.encoders.robust import encode_robust
from jointspace.errors import JointspaceError
from jointspace.evaluate.classic_data import rotten_tomatoes, synset_text, word_pairs
from jointspace.evaluate.datasets import wordnet_sample, wordnet_synsets
from jointspace.evaluate.metrics import first_relevant_rank, retrieval_metrics

LATENT = {"lsa", "lda", "word2vec", "spacy-vectors"}
FIT_ON = ("auto", "indexed", "corpus")


def resolve_encoder(encoder: str | Encoder, params: dict[str, Any] | None = None) -> Encoder:
    return make_encoder(encoder, **(params or {})) if isinstance(encoder, str) else encoder


def resolve_fit_on(enc: Encoder, fit_on: str) -> str:
    if fit_on not in FIT_ON:
        raise JointspaceError(f"unknown fit_on {fit_on!r}; use one of {', '.join(FIT_ON)}")
    if fit_on == "auto":
        return "corpus" if enc.name in LATENT else "indexed"
    return fit_on


def _retrieve(enc: Encoder, items: list[tuple[str, str]], queries: list[str], answers: list[str], k: int,
              progress: Callable[[int], None] | None) -> dict[str, float]:
    """Index (id, text) items with ``enc``, search each query, score the rank of its answer id."""
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection.create(f"{tmp}/c", encoder=enc, fields=["text"])
        report = col.add(({"id": i, "text": t} for i, t in items), progress=progress)
        vectors, ok = encode_robust(col.encoder, queries)
        ok &= np.abs(vectors).sum(axis=1) > 0  # a query with no known word has no direction: a miss
        found = iter(col.search_batch(vectors[ok], k=k) if ok.any() else [])
        hits = [next(found) if good else [] for good in ok]
        col.close()
    ranks = [first_relevant_rank([h.id for h in hs], {a}) if good else None
             for hs, a, good in zip(hits, answers, ok, strict=True)]
    metrics = retrieval_metrics(ranks, ks=(1, 10))
    metrics.pop("median_rank", None)
    metrics["unembeddable_queries"] = int((~ok).sum())
    metrics["unindexed_items"] = len(report.skipped)
    return metrics


def wordnet_gloss(encoder: str | Encoder = "lsa", n: int = 3000, seed: int = 0, k: int = 10, fit_on: str = "auto",
                  progress: Callable[[int], None] | None = None, **params: Any) -> dict[str, float]:
    """Reverse dictionary (gloss -> its synset's lemmas) among ``n`` synsets; see the module for ``fit_on``."""
    enc = resolve_encoder(encoder, params)
    synsets = wordnet_sample(n, seed=seed)
    mode = resolve_fit_on(enc, fit_on)
    if mode == "corpus" and enc.trainable and not enc.is_fitted:
        held_out = {s.id for s in synsets}
        enc.fit(synset_text(s) for s in wordnet_synsets() if s.id not in held_out)
    items = [(s.id, ", ".join(s.lemmas)) for s in synsets]
    metrics = _retrieve(enc, items, [s.definition for s in synsets], [s.id for s in synsets], k, progress)
    return {**metrics, "fit_on": mode}


def rt_plots(encoder: str | Encoder = "lsa", n: int = 2000, seed: int = 0, k: int = 10, fit_on: str = "auto",
             progress: Callable[[int], None] | None = None, **params: Any) -> dict[str, float]:
    """Rotten Tomatoes: a review snippet -> its movie's plot among all 1,097 plots (recall@1/@10, MRR@10)."""
    enc = resolve_encoder(encoder, params)
    plots, reviews = rotten_tomatoes()
    rng = random.Random(seed)
    queries = rng.sample(reviews, min(n, len(reviews)))
    mode = resolve_fit_on(enc, fit_on)
    if mode == "corpus" and enc.trainable and not enc.is_fitted:
        asked = {id(r) for r in queries}
        enc.fit(_chain(plots.values(), (r.text for r in reviews if id(r) not in asked)))
    metrics = _retrieve(enc, list(plots.items()), [r.text for r in queries], [r.movie for r in queries], k,
                        progress)
    return {**metrics, "fit_on": mode}


def _chain(*parts: Iterable[str]) -> Iterable[str]:
    for part in parts:
        yield from part


def word_similarity(encoder: str | Encoder = "word2vec", dataset: str = "wordsim353",
                    **params: Any) -> dict[str, float]:
    """Spearman rho between human scores and cosine similarity, over the pairs both of whose words have a vector.

    Encoders with word vectors (word2vec, spacy-vectors; lsa: V_k S_k rows; lda: p(topic | word)) use them;
    others embed each word as a one-word text. A trainable encoder is fitted on all WordNet synset texts.
    """
    from scipy.stats import spearmanr

    enc = resolve_encoder(encoder, params)
    pairs = word_pairs(dataset)
    fitted_here = enc.trainable and not enc.is_fitted and not getattr(enc, "pretrained_words", False)
    if fitted_here:
        enc.fit(synset_text(s) for s in wordnet_synsets())
    vocab = sorted({w for a, b, _ in pairs for w in (a, b)})
    if hasattr(enc, "term_vectors"):
        vectors, known = enc.term_vectors(vocab)
    else:
        vectors, known = encode_robust(enc, vocab)
    norms = np.linalg.norm(vectors, axis=1)
    known &= norms > 0
    vectors = vectors / np.where(norms > 0, norms, 1)[:, None]
    row = {w: i for i, w in enumerate(vocab)}
    sims, gold = [], []
    for a, b, score in pairs:
        if known[row[a]] and known[row[b]]:
            sims.append(float(vectors[row[a]] @ vectors[row[b]]))
            gold.append(score)
    if len(sims) < 3:
        raise JointspaceError(f"{enc.name}: only {len(sims)} of the {len(pairs)} {dataset} pairs have vectors")
    rho = spearmanr(gold, sims).statistic
    return {"spearman": float(rho), "pairs": len(pairs), "covered": len(sims) / len(pairs),
            "fit_on": "wordnet" if fitted_here else ("pretrained" if not enc.trainable
                                                     or getattr(enc, "pretrained_words", False) else "as given")}
