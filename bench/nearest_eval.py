"""Nearest known examples vs logistic regression on the same vectors, in three spaces, plus open-set rejection.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python bench/nearest_eval.py --out bench/results/nearest.json

Data (real, labelled): SMS spam (ham/spam, 4,837) and Rotten Tomatoes snippets as an intent-like set
(fresh = praise, rotten = criticism, plot = description; 600 each). 5-fold stratified; in each fold
the space is fitted on the training part only. Spaces: ``plain`` (the encoder), ``nca`` (projection
learned from the training labels), ``fusion`` (encoder + sparse TF-IDF, equal weight).
Open set: the ``unknown`` threshold is calibrated on the training part (95% of held-out in-scope
examples accepted); then the test fold (in scope) and out-of-scope messages (1,000 WordNet glosses plus
500 messages of the *other* data set) are scored: share of in-scope accepted, of out-of-scope rejected.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from common import encoded
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from sklearn.model_selection import StratifiedKFold

from jointspace.encoders import encoder as make_encoder
from jointspace.encoders.metric_space import SpaceEncoder
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.evaluate.sms_data import rotten_tomatoes, sms_spam
from jointspace.tasks.nearest import calibrate_threshold, held_out_best, knn_predict


def scores(truth: list[str], pred: list[str], positive: str | None) -> dict[str, float]:
    if positive is not None:
        t = np.array(truth) == positive
        p = np.array(pred) == positive
        return {"mcc": float(matthews_corrcoef(t, p)), "f1": float(f1_score(t, p))}
    return {"accuracy": float(accuracy_score(truth, pred)), "macro_f1": float(f1_score(truth, pred, average="macro")),
            "mcc": float(matthews_corrcoef(truth, pred))}


def evaluate(name: str, texts: list[str], labels: list[str], base: np.ndarray, base_name: str,
             out_texts: list[str], out_base: np.ndarray, positive: str | None, folds: int, k: int,
             seed: int) -> list[dict]:
    rows = []
    for space in ("plain", "nca", "fusion"):
        start = time.perf_counter()
        knn, lr, accepted, rejected, acc_kept = [], [], [], [], []
        split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels)
        for tr, te in split:
            tr_texts, te_texts = [texts[i] for i in tr], [texts[i] for i in te]
            tr_labels, te_labels = [labels[i] for i in tr], [labels[i] for i in te]
            enc = SpaceEncoder(base=base_name, space=space, seed=seed)
            enc.fit_from_vectors(make_encoder(base_name), base[tr], tr_texts, tr_labels)
            v_tr, v_te = enc.project(base[tr], tr_texts), enc.project(base[te], te_texts)
            voted, _, best = knn_predict(v_tr, tr_labels, v_te, k)
            knn.append(scores(te_labels, voted, positive))
            model = LogisticRegression(C=10.0, max_iter=5000).fit(v_tr, tr_labels)
            lr.append(scores(te_labels, list(model.predict(v_te)), positive))
            held, _ = held_out_best(v_tr, tr_labels, k, 5, seed)
            threshold = calibrate_threshold(held, None, 0.95)
            v_out = enc.project(out_base, out_texts)
            out_best = (v_out @ v_tr.T).max(axis=1)
            accepted.append(float(np.mean(best >= threshold)))
            rejected.append(float(np.mean(out_best < threshold)))
            kept = best >= threshold
            acc_kept.append(float(np.mean(np.array(voted)[kept] == np.array(te_labels)[kept])))
        row = {"data": name, "encoder": base_name, "space": space,
               "knn": {m: float(np.mean([f[m] for f in knn])) for m in knn[0]},
               "logreg": {m: float(np.mean([f[m] for f in lr])) for m in lr[0]},
               "in_scope_accepted": float(np.mean(accepted)), "out_of_scope_rejected": float(np.mean(rejected)),
               "accuracy_of_accepted": float(np.mean(acc_kept)), "seconds": time.perf_counter() - start}
        rows.append(row)
        print(json.dumps({k2: v for k2, v in row.items()}), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoders", nargs="*", default=["minilm"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=600, help="Rotten Tomatoes rows per category")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/nearest.json"))
    parser.add_argument("--vector-cache", type=Path, default=None)
    args = parser.parse_args()

    sms, rt = sms_spam(with_meta=False), rotten_tomatoes(args.per_class, seed=args.seed)
    glosses = [s.definition for s in wordnet_sample(1000, seed=args.seed)]
    rng = np.random.default_rng(args.seed)
    sets = {"sms": (list(sms["text"]), list(sms["label"]), "spam"), "rt": (list(rt["text"]), list(rt["label"]), None)}
    results = []
    for base_name in args.encoders:
        trainable = make_encoder(base_name).trainable
        vecs = {}
        for key, (texts, _, _) in sets.items():
            vecs[key] = None if trainable else encoded(base_name, texts, args.vector_cache)
        vecs["glosses"] = None if trainable else encoded(base_name, glosses, args.vector_cache)
        for key, (texts, labels, positive) in sets.items():
            other = "rt" if key == "sms" else "sms"
            pick = rng.choice(len(sets[other][0]), 500, replace=False)
            out_texts = glosses + [sets[other][0][i] for i in pick]
            if trainable:  # a learned base (tfidf, lsa): fitted on this data set's texts (unsupervised)
                enc = make_encoder(base_name).fit(texts)
                base, out_base = enc.encode(texts), enc.encode(out_texts)
            else:
                base = vecs[key]
                out_base = np.vstack([vecs["glosses"], vecs[other][pick]])
            results += evaluate(key, texts, labels, base, base_name, out_texts, out_base, positive, args.folds,
                                args.k, args.seed)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
    print(markdown(results))


def markdown(results: list[dict]) -> str:
    lines = ["| data | encoder | space | k-NN MCC | k-NN F1 | logreg MCC | logreg F1 | in-scope accepted | "
             "out-of-scope rejected | k-NN accuracy of accepted |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f1 = "f1" if "f1" in r["knn"] else "macro_f1"
        lines.append(f"| {r['data']} | {r['encoder']} | {r['space']} | {r['knn']['mcc']:.4f} | {r['knn'][f1]:.4f} | "
                     f"{r['logreg']['mcc']:.4f} | {r['logreg'][f1]:.4f} | {r['in_scope_accepted']:.3f} | "
                     f"{r['out_of_scope_rejected']:.3f} | {r['accuracy_of_accepted']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
