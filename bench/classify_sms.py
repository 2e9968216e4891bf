"""SMS spam, side by side in one run: TF-IDF + LinearSVC baseline vs each encoder x model, +/- metadata.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python bench/classify_sms.py --out bench/results/classify_sms.json \
        --img docs/img

5-fold stratified (the same folds for every row), figures of the spam class. Each model row gives
MCC/F1 at the default decision (calibrated probability >= 0.5) and with the threshold chosen on
validation (out-of-fold predictions of the other folds, best F1). Pretrained encoders encode the
4,837 texts once per run (``--vector-cache`` keeps them on disk between runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from common import encoded
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from jointspace.encoders import available, encoder_class
from jointspace.evaluate.sms_data import META_FIELDS, sms_spam
from jointspace.tasks.classify import ClassifierConfig, cross_validate
from jointspace.tasks.features import preload, vector_cache


def baseline(texts: list[str], y: np.ndarray, folds: int, seed: int) -> dict[str, float]:
    """TF-IDF (scikit-learn defaults) + LinearSVC (C=1), decision at 0."""
    rows, scores = [], np.zeros(len(y))
    start = time.perf_counter()
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y):
        vec = TfidfVectorizer()
        svm = LinearSVC().fit(vec.fit_transform([texts[i] for i in tr]), y[tr])
        scores[te] = svm.decision_function(vec.transform([texts[i] for i in te]))
        pred = (scores[te] > 0).astype(int)
        rows.append({"mcc": matthews_corrcoef(y[te], pred), "f1": f1_score(y[te], pred),
                     "roc_auc": roc_auc_score(y[te], scores[te]),
                     "pr_auc": average_precision_score(y[te], scores[te])})
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out.update(mcc_tuned=out["mcc"], f1_tuned=out["f1"], seconds=time.perf_counter() - start)
    return {**out, "scores": scores.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoders", nargs="*", default=None, help="default: tfidf, lsa (when registered), minilm")
    parser.add_argument("--models", nargs="*", default=["logreg", "svm", "mlp"])
    parser.add_argument("--out", type=Path, default=Path("bench/results/classify_sms.json"))
    parser.add_argument("--img", type=Path, default=None, help="write ROC/PR PNGs of the best rows here")
    parser.add_argument("--vector-cache", type=Path, default=None)
    args = parser.parse_args()

    df = sms_spam()
    texts = list(df["text"])
    y = (df["label"] == "spam").to_numpy().astype(int)
    encoders = args.encoders or [e for e in ("tfidf", "lsa", "minilm") if e in available()]
    print(f"encoders: {encoders} (registered: {available()})", file=sys.stderr)
    results = {"baseline": baseline(texts, y, args.folds, args.seed), "rows": [], "encoders": encoders}
    b = results["baseline"]
    print(f"baseline tfidf+LinearSVC: MCC {b['mcc']:.4f} F1 {b['f1']:.4f}", file=sys.stderr)
    with vector_cache():
        for name in encoders:
            if not encoder_class(name).trainable:
                preload(name, {}, texts, encoded(name, texts, args.vector_cache))
            for model in args.models:
                for meta in ([], META_FIELDS):
                    config = ClassifierConfig(encoder=name, model=model, meta=list(meta), folds=args.folds,
                                              seed=args.seed)
                    cv = cross_validate(df, list(df["label"]), config)
                    p = cv.proba[:, cv.positive]
                    default = [(matthews_corrcoef(y[te], p[te] >= 0.5), f1_score(y[te], p[te] >= 0.5))
                               for _, te in StratifiedKFold(args.folds, shuffle=True,
                                                            random_state=args.seed).split(texts, y)]
                    row = {"encoder": name, "model": model, "meta": bool(meta),
                           "mcc": float(np.mean([d[0] for d in default])),
                           "f1": float(np.mean([d[1] for d in default])),
                           "mcc_tuned": cv.summary["mcc"], "f1_tuned": cv.summary["f1"],
                           "roc_auc": cv.summary["roc_auc"], "pr_auc": cv.summary["pr_auc"],
                           "seconds": cv.seconds, "proba": p.tolist()}
                    results["rows"].append(row)
                    print(f"{name:7s} {model:6s} meta={int(bool(meta))}: MCC {row['mcc']:.4f} F1 {row['f1']:.4f} "
                          f"tuned MCC {row['mcc_tuned']:.4f} F1 {row['f1_tuned']:.4f} "
                          f"({cv.seconds:.0f}s)", file=sys.stderr)
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(_without_scores(results), indent=1))
    print(markdown(results))
    if args.img:
        plot(results, y, args.img)


def _without_scores(results: dict) -> dict:
    """The figures only (per-message scores are kept in memory for the plots, not written)."""
    return {**results, "baseline": {k: v for k, v in results["baseline"].items() if k != "scores"},
            "rows": [{k: v for k, v in r.items() if k != "proba"} for r in results["rows"]]}


def markdown(results: dict) -> str:
    b = results["baseline"]
    lines = ["| features | model | metadata | MCC | F1 (spam) | MCC, tuned threshold | F1, tuned | ROC-AUC | PR-AUC |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| TF-IDF (sklearn defaults) | LinearSVC (baseline) | no | {b['mcc']:.4f} | {b['f1']:.4f} | - | - | "
             f"{b['roc_auc']:.4f} | {b['pr_auc']:.4f} |"]
    best = max(results["rows"], key=lambda r: r["mcc"])
    for r in results["rows"]:
        mark = "**" if r is best else ""
        lines.append(f"| {r['encoder']} | {r['model']} | {'yes' if r['meta'] else 'no'} | {mark}{r['mcc']:.4f}{mark} "
                     f"| {r['f1']:.4f} | {r['mcc_tuned']:.4f} | {r['f1_tuned']:.4f} | {r['roc_auc']:.4f} | "
                     f"{r['pr_auc']:.4f} |")
    lines.append(f"\nbest: {best['encoder']} + {best['model']} (metadata: {best['meta']}), MCC {best['mcc']:.4f} vs "
                 f"baseline {b['mcc']:.4f}: ratio {best['mcc'] / b['mcc']:.3f}")
    return "\n".join(lines)


def plot(results: dict, y: np.ndarray, img: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    img.mkdir(parents=True, exist_ok=True)
    curves = [("TF-IDF + LinearSVC (baseline)", np.array(results["baseline"]["scores"]))]
    for name in results["encoders"]:
        rows = [r for r in results["rows"] if r["encoder"] == name]
        if rows:
            r = max(rows, key=lambda r: r["mcc"])
            curves.append((f"{name} + {r['model']}{' + meta' if r['meta'] else ''}", np.array(r["proba"])))
    for kind in ("roc", "pr"):
        fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
        for label, s in curves:
            if kind == "roc":
                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(y, s):.3f})")
            else:
                prec, rec, _ = precision_recall_curve(y, s)
                ax.plot(rec, prec, label=f"{label} (AP {average_precision_score(y, s):.3f})")
        if kind == "roc":
            ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 0.2), ylim=(0.6, 1.0),
                   title="SMS spam, out-of-fold ROC (zoomed)")
        else:
            ax.set(xlabel="recall", ylabel="precision", xlim=(0.5, 1.0), ylim=(0.5, 1.01),
                   title="SMS spam, out-of-fold precision-recall (zoomed)")
        ax.legend(fontsize=8, loc="lower right" if kind == "roc" else "lower left")
        fig.tight_layout()
        fig.savefig(img / f"sms_{kind}.png")
        plt.close(fig)


if __name__ == "__main__":
    main()
