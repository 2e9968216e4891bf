"""Learned joint space vs the zero-shot bridge on the same held-out pairs, in one run, as ratios.

    python bench/alignment.py --dataset fashion-mnist [--methods bridge procrustes cca contrastive]

Prints one JSON object: each method's held-out metrics and wall time, and each learned method's
ratio to the bridge per recall metric (the figures in docs/alignment.md and docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import time

from jointspace.evaluate.alignment_run import METHODS, evaluate_alignment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--right-encoder", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for method in args.methods:
        start = time.perf_counter()
        metrics = evaluate_alignment(args.dataset, method, right_encoder=args.right_encoder, seed=args.seed)
        results[method] = {**metrics, "seconds": round(time.perf_counter() - start, 1)}
    if "bridge" in results:
        base = results["bridge"]
        for method, m in results.items():
            if method != "bridge":
                m["ratio_to_bridge"] = {
                    f"{d}/{k}": round(m[d][k] / base[d][k], 3) if base[d][k] else None
                    for d in ("left->right", "right->left") for k in ("recall@1", "recall@5", "recall@10")}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
