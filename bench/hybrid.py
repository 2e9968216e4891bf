"""Hybrid search (issue 14): dense vs lexical vs fused, MRR@100, nDCG@10 and recall@100 on real sets.

    python bench/hybrid.py                              # every set below
    python bench/hybrid.py --sets wordnet-names --json out.json

Sets (the same items and queries as ``jointspace evaluate retrieval`` where it has them):

* ``wordnet-gloss``: a WordNet gloss -> its synset's lemmas ("dog, domestic dog, Canis familiaris"), among
  ``--size`` noun synsets (``evaluate retrieval --dataset wordnet-gloss``, seed 0);
* ``rt-plots``: a Rotten Tomatoes review snippet -> its movie's plot, among all 1,097 plots (2,000 reviews);
* ``wordnet-names``: names and rare words. A proper name from WordNet (a person, place, taxon, work:
  "Mendelssohn", "Pseudotsuga", "Tippecanoe") -> the entries that list it as a lemma, among the named
  synsets' entries ("lemmas: gloss") mixed with as many ordinary noun entries. Relevant: every entry having
  that name as a lemma (case-insensitive).

``asterisk-prompts`` (transcript -> audio) is left out: its items have no text until speech recognition
runs, so a lexical side would first need an ASR pass over the 568 clips.

Dense: MiniLM vectors, exact inner product. Lexical: SQLite FTS5 BM25 (``stores/embedded/lexical.py``,
Porter stemming). Each side returns its best 100; fusion (``jointspace.fusion``) ranks their union:
RRF (k_rrf = 60) and the alpha-weighted sum of min-max normalised scores (alpha = weight of dense).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import encoded  # noqa: E402

CACHE = Path(os.environ.get("JOINTSPACE_CACHE", Path.home() / ".cache" / "jointspace")) / "bench-hybrid"
DEPTH = 100
ALPHAS = (0.3, 0.5, 0.7, 0.9)
SETS = ("wordnet-gloss", "rt-plots", "wordnet-names")


def vectors_of(texts: list[str]) -> np.ndarray:
    """MiniLM vectors: glosses already encoded by bench/scale.py (same model, same settings) come from its
    cache; the rest are encoded once into this benchmark's cache."""
    from scale import CACHE as SCALE_CACHE
    from scale import glosses

    known: dict[str, np.ndarray] = {}
    parts = sorted(SCALE_CACHE.glob("minilm_wordnet_part_*_*.npy"))
    if parts:
        _, gloss_texts, _ = glosses(100_000)
        wanted = set(texts)
        for part in parts:
            start, stop = (int(x) for x in part.stem.split("_")[-2:])
            if stop > len(gloss_texts) or not wanted & set(gloss_texts[start:stop]):
                continue
            block = np.load(part)
            for text, vec in zip(gloss_texts[start:stop], block, strict=True):
                if text in wanted:
                    known[text] = vec
    missing = [t for t in dict.fromkeys(texts) if t not in known]  # in order: the cache file is keyed by them
    if missing:
        known.update(zip(missing, encoded("minilm", missing, CACHE), strict=True))
    return np.stack([known[t] for t in texts]).astype(np.float32)


def wordnet_gloss(size: int) -> tuple[dict[str, str], list[str], list[set[str]]]:
    from jointspace.evaluate.datasets import wordnet_sample

    synsets = wordnet_sample(size, seed=0)
    return ({s.id: ", ".join(s.lemmas) for s in synsets}, [s.definition for s in synsets],
            [{s.id} for s in synsets])


def rt_plots(size: int) -> tuple[dict[str, str], list[str], list[set[str]]]:
    from jointspace.evaluate.classic_data import rotten_tomatoes

    plots, reviews = rotten_tomatoes()
    queries = random.Random(0).sample(reviews, min(size, len(reviews)))
    return dict(plots), [r.text for r in queries], [{r.movie} for r in queries]


def wordnet_names(size: int) -> tuple[dict[str, str], list[str], list[set[str]]]:
    from jointspace.evaluate.datasets import wordnet_synsets

    synsets = wordnet_synsets("n")
    rng = random.Random(0)
    rng.shuffle(synsets)
    named = [s for s in synsets if s.word[:1].isupper() and len(s.word) > 3][:size]
    ordinary = [s for s in synsets if not s.word[:1].isupper()][:size]
    docs = {s.id: f"{', '.join(s.lemmas).replace('_', ' ')}: {s.definition}" for s in named + ordinary}
    by_lemma: dict[str, set[str]] = {}
    for s in named + ordinary:
        for lemma in s.lemmas:
            by_lemma.setdefault(lemma.replace("_", " ").lower(), set()).add(s.id)
    queries = [s.word.replace("_", " ") for s in named[: size // 2]]
    return docs, queries, [by_lemma[q.lower()] for q in queries]


LOADERS = {"wordnet-gloss": wordnet_gloss, "rt-plots": rt_plots, "wordnet-names": wordnet_names}
SIZES = {"wordnet-gloss": 3000, "rt-plots": 2000, "wordnet-names": 2000}


def metrics(rankings: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    from jointspace.evaluate.metrics import first_relevant_rank, ndcg_at_k

    mrr, ndcg, rec = [], [], []
    for ranked, rel in zip(rankings, relevant, strict=True):
        r = first_relevant_rank(ranked[:DEPTH], rel)
        mrr.append(1.0 / r if r else 0.0)
        ndcg.append(ndcg_at_k(ranked, rel, 10))
        rec.append(len(rel & set(ranked[:DEPTH])) / len(rel))
    return {"mrr@100": float(np.mean(mrr)), "ndcg@10": float(np.mean(ndcg)), "recall@100": float(np.mean(rec))}


def evaluate(name: str, size: int) -> dict:
    from jointspace.fusion import rrf, weighted
    from jointspace.ranking import top_k
    from jointspace.stores.embedded.lexical import LexicalIndex

    docs, queries, relevant = LOADERS[name](size)
    ids = list(docs)
    doc_vectors = vectors_of([docs[i] for i in ids])
    query_vectors = vectors_of(queries)
    db = sqlite3.connect(":memory:", isolation_level=None)
    lex = LexicalIndex()
    lex.ensure(db)
    lex.put(db, [(pos + 1, docs[i]) for pos, i in enumerate(ids)])
    dense_lists, lexical_lists = [], []
    start = time.perf_counter()
    for at in range(0, len(queries), 256):
        scores, pos = top_k(query_vectors[at:at + 256] @ doc_vectors.T, DEPTH)
        for srow, prow in zip(scores, pos, strict=True):
            dense_lists.append([(ids[p], float(s)) for s, p in zip(srow, prow, strict=True)])
    dense_s = time.perf_counter() - start
    start = time.perf_counter()
    for q in queries:
        lexical_lists.append([(ids[h.rowid - 1], h.score, h.terms) for h in lex.search(db, q, DEPTH)])
    lexical_s = time.perf_counter() - start
    runs: dict[str, list[list[str]]] = {
        "dense": [[i for i, _ in d] for d in dense_lists],
        "lexical": [[i for i, _, _ in lx] for lx in lexical_lists],
        "hybrid rrf": [[h.id for h in rrf(d, lx, k=DEPTH)] for d, lx in zip(dense_lists, lexical_lists, strict=True)],
    }
    for alpha in ALPHAS:
        runs[f"hybrid alpha={alpha}"] = [[h.id for h in weighted(d, lx, alpha=alpha, k=DEPTH)]
                                         for d, lx in zip(dense_lists, lexical_lists, strict=True)]
    no_lexical = sum(1 for lx in lexical_lists if not lx)
    return {"set": name, "items": len(docs), "queries": len(queries), "queries_without_lexical_hits": no_lexical,
            "dense_ms_per_query": 1000 * dense_s / len(queries),
            "lexical_ms_per_query": 1000 * lexical_s / len(queries),
            "results": {method: metrics(r, relevant) for method, r in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = []
    for name in args.sets.split(","):
        result = evaluate(name, SIZES[name])
        out.append(result)
        res = result["results"]
        best_single = {m: max(res["dense"][m], res["lexical"][m]) for m in res["dense"]}
        print(f"\n{name}: {result['items']} items, {result['queries']} queries "
              f"({result['queries_without_lexical_hits']} without a lexical hit); load {os.getloadavg()[0]:.2f}")
        print(f"{'method':20} {'MRR@100':>8} {'nDCG@10':>8} {'R@100':>8}   vs best single (MRR, nDCG, R@100)")
        for method, m in res.items():
            flags = " ".join(("=" if abs(m[k] - best_single[k]) < 5e-4 else "+" if m[k] > best_single[k] else "-")
                             for k in ("mrr@100", "ndcg@10", "recall@100")) if method.startswith("hybrid") else ""
            print(f"{method:20} {m['mrr@100']:8.4f} {m['ndcg@10']:8.4f} {m['recall@100']:8.4f}   {flags}")
    if args.json:
        args.json.write_text(json.dumps({"load_average": os.getloadavg(), "sets": out}, indent=2))


if __name__ == "__main__":
    main()
