"""Recommendation on MovieLens 100K and Book-Crossing: popular, item-kNN, ALS, EASE, content and hybrid side by side.

Run by hand:
    PYTHONPATH=src .venv/bin/python bench/recommend_movielens.py --data movielens-100k book-crossing \
        --hybrid ease=1,text=0.05 ease=1,behaviour=0.5,text=0.05 --out bench/results/recommend_quality.json

For each data set the hybrid's weights (EASE, ALS = "behaviour", content = "text") are chosen among
``--hybrid`` on a validation split of the training part (the test part is never looked at for it), then
every method is scored on the seeded 80/20 per-user split. Book-Crossing is its dense core
(``--bx-min-item`` / ``--bx-min-user``, see ``evaluate/bookcrossing_data.py``).
Prints each method's metrics and the hybrid / EASE NDCG@10 ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from jointspace.evaluate.recommend_eval import evaluate_recommend
from jointspace.tasks.recommend import parse_weights


def load(name: str, min_item: int, min_user: int):  # noqa: ANN201 (RatingsData)
    if name == "book-crossing":
        from jointspace.evaluate.bookcrossing_data import book_crossing

        return book_crossing(min_item=min_item, min_user=min_user)
    from jointspace.evaluate.movielens_data import movielens_100k

    return movielens_100k()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", nargs="+", default=["movielens-100k"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--content-encoder", default="tfidf")
    parser.add_argument("--hybrid", nargs="+", default=["ease=1,text=0.05", "ease=1,behaviour=0.5,text=0.05"])
    parser.add_argument("--bx-min-item", type=int, default=40)
    parser.add_argument("--bx-min-user", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for name in args.data:
        data = load(name, args.bx_min_item, args.bx_min_user)
        start = time.perf_counter()
        chosen, best = args.hybrid[0], -1.0
        validation = {}
        if len(args.hybrid) > 1:
            for spec in args.hybrid:
                res, _ = evaluate_recommend(data, methods=["ease", "hybrid"], weights=parse_weights(spec),
                                            seed=args.seed, content_encoder=args.content_encoder, validation=True)
                validation[spec] = {"hybrid": round(res["hybrid"]["ndcg@10"], 4),
                                    "ease": round(res["ease"]["ndcg@10"], 4)}
                print(json.dumps({"data": name, "validation": spec, **validation[spec]}), flush=True)
                if res["hybrid"]["ndcg@10"] > best:
                    chosen, best = spec, res["hybrid"]["ndcg@10"]
        results, protocol = evaluate_recommend(data, weights=parse_weights(chosen), seed=args.seed,
                                               content_encoder=args.content_encoder)
        row = {"data": name, "seconds": round(time.perf_counter() - start, 1), "load_average": os.getloadavg()[0],
               "validation_ndcg@10": validation, "hybrid_weights": chosen,
               "hybrid_over_ease_ndcg@10": round(results["hybrid"]["ndcg@10"] / results["ease"]["ndcg@10"], 4),
               "protocol": protocol,
               "results": {m: {k: round(v, 4) for k, v in r.items()} for m, r in results.items()}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
