"""Nearest-example labelling with its defaults vs the strong simple baselines, on every labelled short-text set.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python bench/nearest_quality.py --sets rt-intent sms-spam \
        wordnet-concrete wordnet-abstract --cache ~/.cache/jointspace/bench --out bench/results/nearest_quality.json

For each set (``jointspace.evaluate.short_text``), 5-fold stratified, the same folds for every method:
``nearest`` as ``jointspace nearest train`` fits it by default (space, k and vote chosen on the training
part only), TF-IDF (words + word pairs, sublinear) + LinearSVC, and logistic regression on MiniLM vectors.
Then the open set: 200 out-of-scope messages (WordNet glosses, or SMS / Rotten Tomatoes texts for the
WordNet sets), half to calibrate ``unknown`` with, half to measure; in-scope accuracy and out-of-scope
rejection are reported separately. MiniLM vectors are computed once per text (kept under ``--cache``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from common import encoded
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from jointspace.evaluate.datasets import wordnet_sample
from jointspace.evaluate.short_text import SETS, short_text_set
from jointspace.evaluate.sms_data import rotten_tomatoes, sms_spam
from jointspace.tasks.nearest import evaluate_nearest


def outliers_for(name: str, seed: int = 0) -> list[str]:
    if name.startswith("wordnet"):
        sms = list(sms_spam(with_meta=False)["text"].sample(200, random_state=seed))
        rt = list(rotten_tomatoes(per_class=100, seed=seed + 1)["text"].iloc[:200])
        return sms[:100] + rt[:100]
    glosses = [s.definition for s in wordnet_sample(200, seed=seed + 7)]
    other = sms_spam(with_meta=False) if name == "rt-intent" else rotten_tomatoes(per_class=100, seed=seed + 1)
    return glosses[:100] + list(other["text"].sample(100, random_state=seed))


def minilm_logreg(vectors: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    pred = np.empty(len(y), dtype=object)
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(vectors, y):
        pred[te] = LogisticRegression(C=10.0, max_iter=3000, solver="newton-cg").fit(vectors[tr], y[tr]).predict(
            vectors[te])
    return round(float(np.mean(pred == y)), 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "jointspace" / "bench")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for name in args.sets:
        df = short_text_set(name)
        texts, y = list(df["text"]), np.array(df["label"].astype(str))
        out = outliers_for(name, args.seed)
        base = encoded("minilm", texts, args.cache)
        out_base = encoded("minilm", out, args.cache)
        start = time.perf_counter()
        result = evaluate_nearest(texts, y, folds=args.folds, seed=args.seed, outliers=out, base_vectors=base,
                                  outlier_vectors=out_base)
        result.pop("labels")
        row = {"data": name, **result, "minilm_logreg_accuracy": minilm_logreg(base, y, args.folds, args.seed),
               "wall_seconds": round(time.perf_counter() - start, 1), "load_average": os.getloadavg()[0]}
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
