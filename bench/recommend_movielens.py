"""Recommendation on MovieLens 100K: jointspace's hybrid vs item-kNN (the public baseline), side by side.

Run by hand:  PYTHONPATH=src .venv/bin/python bench/recommend_movielens.py [--seeds 0 1 2]
Prints each method's metrics per seed and the hybrid / item-kNN NDCG@10 ratio.
"""

from __future__ import annotations

import argparse
import json
import time

from jointspace.evaluate.movielens_data import movielens_100k
from jointspace.evaluate.recommend_eval import evaluate_recommend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--content-encoder", default="tfidf")
    args = parser.parse_args()
    data = movielens_100k()
    for seed in args.seeds:
        start = time.perf_counter()
        results, protocol = evaluate_recommend(data, seed=seed, content_encoder=args.content_encoder)
        ratio = results["hybrid"]["ndcg@10"] / results["itemknn"]["ndcg@10"]
        print(json.dumps({"seed": seed, "seconds": round(time.perf_counter() - start, 1),
                          "hybrid_over_itemknn_ndcg@10": round(ratio, 3), "protocol": protocol,
                          "results": {m: {k: round(v, 4) for k, v in r.items()} for m, r in results.items()}}))


if __name__ == "__main__":
    main()
