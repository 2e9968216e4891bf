"""A picture of a joint space: both modalities' items in 2-D, coloured by class, one panel per space.

Each panel is a PCA of that space's vectors (both sides together), so the distance between the two
modalities' clouds (the modality gap) stays visible, as it would not under t-SNE.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import l2_normalise
from jointspace.errors import JointspaceError

MARKERS = ("o", "^")


@dataclass
class Panel:
    """One space to draw: each side's vectors and, optionally, a class label per row."""

    title: str
    left: np.ndarray
    right: np.ndarray
    left_classes: Any = None
    right_classes: Any = None


def _pca_2d(vectors: np.ndarray) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_joint_space(panels: list[Panel], out: str | Path, modalities: tuple[str, str] = ("left", "right"),
                     class_names: dict[Any, str] | None = None, max_points: int = 1500, seed: int = 0) -> Path:
    """Draw ``panels`` side by side into a PNG at ``out`` (written to a temporary name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise JointspaceError("nothing to plot")
    out = Path(out)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6), squeeze=False)
    cmap = plt.get_cmap("tab10")
    all_classes: list[Any] = []
    for p in panels:
        for c in (p.left_classes, p.right_classes):
            if c is not None:
                all_classes += [x for x in np.unique(np.asarray(c)).tolist() if x not in all_classes]
    colour_of = {c: cmap(i % 10) for i, c in enumerate(sorted(all_classes, key=str))}
    for ax, p in zip(axes[0], panels, strict=True):
        left, right = l2_normalise(p.left), l2_normalise(p.right)
        if left.shape[1] != right.shape[1]:
            raise JointspaceError(f"panel {p.title!r}: sides of dim {left.shape[1]} and {right.shape[1]}")
        picks = [rng.permutation(len(m))[:max_points] for m in (left, right)]
        both = np.vstack([left[picks[0]], right[picks[1]]])
        xy = _pca_2d(both.astype(np.float64))
        parts = (xy[:len(picks[0])], xy[len(picks[0]):])
        for side, (points, pick, classes) in enumerate(zip(parts, picks, (p.left_classes, p.right_classes),
                                                          strict=True)):
            if classes is None:
                colours: Any = [cmap(side)] * len(points)
            else:
                colours = [colour_of[c] for c in np.asarray(classes)[pick].tolist()]
            few = len(np.unique(both[:len(picks[0])] if side == 0 else both[len(picks[0]):], axis=0)) < 50
            ax.scatter(points[:, 0], points[:, 1], c=colours, marker=MARKERS[side], s=90 if few else 10,
                       alpha=0.95 if few else 0.55, edgecolors="black" if few else "none", linewidths=0.6)
        gap = float(np.linalg.norm(left.mean(axis=0) - right.mean(axis=0)))
        ax.set_title(f"{p.title}\nmodality gap {gap:.3f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker=MARKERS[i], color="grey", linestyle="", markersize=8, label=m)
               for i, m in enumerate(modalities)]
    handles += [plt.Line2D([], [], marker="s", color=colour, linestyle="", markersize=8,
                           label=(class_names or {}).get(c, str(c))) for c, colour in colour_of.items()]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.09 if len(handles) > 7 else 0.06, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=110)
        tmp.replace(out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out
