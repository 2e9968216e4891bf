"""Training time and accuracy of `classify` with tfidf against the equivalent scikit-learn pipeline, side by side.

    PYTHONPATH=src python bench/classify_speed.py --rows 1500 --out bench/results/classify_speed.json

Data: Rotten Tomatoes snippets (fresh / rotten / plot, equal shares), ``--rows`` of them. Both sides run
the same 5 stratified folds: jointspace's ``tasks.classify.evaluate`` (defaults: tfidf, logreg) and
``make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=10, max_iter=5000))`` (what a
practitioner writes; lbfgs, scikit-learn's default solver). Also ``--tune`` and the old stop-word default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from jointspace.evaluate.sms_data import rotten_tomatoes
from jointspace.tasks.classify import ClassifierConfig, evaluate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    df = rotten_tomatoes(per_class=args.rows // 3, seed=0)
    rows = []

    def record(name: str, accuracy: float, seconds: float) -> None:
        row = {"method": name, "rows": len(df), "accuracy": round(accuracy, 4), "seconds": round(seconds, 1),
               "load_average": round(os.getloadavg()[0], 1)}
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)

    start = time.perf_counter()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    pred = cross_val_predict(make_pipeline(TfidfVectorizer(sublinear_tf=True),
                                           LogisticRegression(C=10.0, max_iter=5000)), df["text"], df["label"], cv=cv)
    record("sklearn TfidfVectorizer + LogisticRegression(C=10)", float(np.mean(pred == df["label"])),
           time.perf_counter() - start)
    for name, config in (("jointspace classify (tfidf, logreg defaults)", ClassifierConfig(encoder="tfidf")),
                         ("jointspace classify --tune", ClassifierConfig(encoder="tfidf", tune=True)),
                         ("jointspace classify, old stop-word list", ClassifierConfig(
                             encoder="tfidf", encoder_params={"stop_words": "english"}))):
        start = time.perf_counter()
        result, _ = evaluate(df, config)
        record(name, result.summary["accuracy"], time.perf_counter() - start)
    base = rows[0]["seconds"]
    for row in rows:
        row["time_ratio_vs_sklearn"] = round(row["seconds"] / base, 2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
