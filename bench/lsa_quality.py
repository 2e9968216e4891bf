"""LSA weightings and singular-value power vs the TF-IDF they start from: document similarity and retrieval.

    PYTHONPATH=src python bench/lsa_quality.py --dims 100 200 300 --out bench/results/lsa_quality.json
    PYTHONPATH=src python bench/lsa_quality.py --retrieval --dims 200   # + rt-plots (slower: fits on 13k texts)

Document similarity: the Lee et al. (2005) set (50 news paragraphs, 1,225 human-scored pairs; 300
background paragraphs to fit on), Pearson r of cosine against the mean human score. Retrieval: rt-plots
(review -> its movie's plot among 1,097; 1,000 queries; LSA fitted on the other texts), MRR@10.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from jointspace.evaluate.doc_similarity import lee_pairs, score_pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--powers", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--retrieval", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    specs = ["tfidf:dim=100000", "tfidf:dim=100000,sublinear_tf=false", "minilm"]
    for weighting in ("log-entropy", "tfidf"):
        for dim in args.dims:
            for power in args.powers:
                specs.append(f"lsa:weighting={weighting},dim={dim},singular_power={power}")
    rows = score_pairs(lee_pairs(), specs)
    for row in rows:
        row["load_average"] = os.getloadavg()[0]
        print(json.dumps(row), file=sys.stderr, flush=True)
    if args.retrieval:
        from jointspace.evaluate.classic_tasks import rt_plots

        runs = [("tfidf", {})] + [("lsa", {"weighting": w, "dim": d, "singular_power": p})
                                  for w in ("log-entropy", "tfidf") for d in args.dims for p in args.powers]
        for name, params in runs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = rt_plots(name, n=1000, **params)
            row = {"data": "rt-plots", "encoder": name, **params, "mrr@10": round(m["mrr"], 4),
                   "recall@10": round(m["recall@10"], 4), "load_average": os.getloadavg()[0]}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
