"""Classification metrics, decision thresholds chosen on validation data, and the ROC / PR / confusion PNGs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


def choose_threshold(y: np.ndarray, p: np.ndarray, target_precision: float | None = None,
                     target_recall: float | None = None) -> dict[str, Any]:
    """The probability cut-off (positive when p >= threshold) for a target, from validation predictions.

    ``target_precision``: the lowest cut-off whose precision reaches it (so the most recall);
    ``target_recall``: the highest cut-off whose recall reaches it (so the most precision);
    neither: the cut-off with the best F1. ``reached`` says whether the target was met on these data;
    when it was not, the cut-off closest to it is returned.
    """
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if target_precision is not None and target_recall is not None:
        raise ValueError("give a target precision or a target recall, not both")
    if target_precision is not None:
        ok = np.flatnonzero(precision >= target_precision)
        i = int(ok[np.argmax(recall[ok])]) if len(ok) else int(np.argmax(precision))
        target: dict[str, Any] = {"target": "precision", "value": target_precision, "reached": bool(len(ok))}
    elif target_recall is not None:
        ok = np.flatnonzero(recall >= target_recall)
        i = int(ok[np.argmax(precision[ok])]) if len(ok) else int(np.argmax(recall))
        target = {"target": "recall", "value": target_recall, "reached": bool(len(ok))}
    else:
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        i = int(np.argmax(f1))
        target = {"target": "f1", "value": None, "reached": True}
    return {"threshold": float(thresholds[i]), "precision": float(precision[i]), "recall": float(recall[i]),
            **target}


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """y in {0, 1}, p the probability of 1."""
    pred = (p >= threshold).astype(int)
    return {
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
        "accuracy": float(accuracy_score(y, pred)),
        "roc_auc": float(roc_auc_score(y, p)) if len(set(y)) == 2 else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if y.any() else float("nan"),
        "confusion": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
    }


def multiclass_metrics(codes: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """codes in 0..k-1, proba (n, k); macro averages over classes."""
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    onehot = np.eye(k)[codes]
    present = onehot.any(axis=0)
    return {
        "precision": float(precision_score(codes, pred, average="macro", labels=range(k), zero_division=0)),
        "recall": float(recall_score(codes, pred, average="macro", labels=range(k), zero_division=0)),
        "f1": float(f1_score(codes, pred, average="macro", labels=range(k), zero_division=0)),
        "mcc": float(matthews_corrcoef(codes, pred)),
        "accuracy": float(accuracy_score(codes, pred)),
        "roc_auc": float(roc_auc_score(onehot[:, present], proba[:, present], average="macro"))
        if present.sum() > 1 else float("nan"),
        "pr_auc": float(average_precision_score(onehot[:, present], proba[:, present], average="macro")),
        "confusion": confusion_matrix(codes, pred, labels=range(k)).tolist(),
    }


def summarise_folds(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation of each numeric metric over folds."""
    out: dict[str, Any] = {}
    for key, value in folds[0].items():
        if isinstance(value, float):
            values = np.array([f[key] for f in folds], dtype=float)
            out[key] = float(np.nanmean(values))
            out[f"{key}_std"] = float(np.nanstd(values))
    return out


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(5.5, 4.5), dpi=110)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def curve_plots(codes: np.ndarray, proba: np.ndarray, classes: Sequence[Any], positive: int | None,
                out_dir: Path, title: str = "") -> dict[str, Path]:
    """roc.png and pr.png from out-of-fold predictions: the positive class, or one curve per class."""
    shown = [positive] if positive is not None else list(range(len(classes)))
    paths = {}
    for kind in ("roc", "pr"):
        fig, ax = _figure()
        for c in shown:
            y = (codes == c).astype(int)
            if y.all() or not y.any():
                continue
            if kind == "roc":
                fpr, tpr, _ = roc_curve(y, proba[:, c])
                ax.plot(fpr, tpr, label=f"{classes[c]} (AUC {roc_auc_score(y, proba[:, c]):.3f})")
            else:
                prec, rec, _ = precision_recall_curve(y, proba[:, c])
                ax.plot(rec, prec, label=f"{classes[c]} (AP {average_precision_score(y, proba[:, c]):.3f})")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], ls=":", c="grey")
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {title}".strip())
        else:
            ax.set(xlabel="recall", ylabel="precision", title=f"precision-recall {title}".strip(), ylim=(0, 1.02))
        ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
        paths[kind] = _save(fig, out_dir / f"{kind}.png")
    return paths


def confusion_plot(matrix: list[list[int]], classes: Sequence[Any], path: Path, title: str = "") -> Path:
    fig, ax = _figure()
    m = np.asarray(matrix)
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > m.max() / 2 else "black")
    ticks = [str(c) for c in classes]
    ax.set(xticks=range(len(ticks)), yticks=range(len(ticks)), xticklabels=ticks, yticklabels=ticks,
           xlabel="predicted", ylabel="true", title=f"confusion {title}".strip())
    return _save(fig, path)
