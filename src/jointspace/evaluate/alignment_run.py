"""``jointspace evaluate alignment``: bridge (zero-shot) vs learned spaces on held-out pairs.

Every method is scored on the same held-out pairs (the test split): the bridge maps the right side
straight into the text space with no training; procrustes, cca and contrastive learn from the train
split, with the right side's own encoder (EfficientNet features for images, by default).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.evaluate.alignment import cross_modal_metrics
from jointspace.evaluate.alignment_data import PairSet, cached_vectors, load_pairs

METHODS = ("bridge", "procrustes", "cca", "contrastive")
BRIDGES = {"fashion-mnist": "image-text", "asterisk-prompts": "speech"}
RIGHT_ENCODERS = {"fashion-mnist": "efficientnet", "asterisk-prompts": "speech"}
TEXT_ENCODER = "minilm"
Advance = Callable[[int], None]


def text_vectors(texts: list[str]) -> np.ndarray:
    """Text vectors, each distinct text encoded once."""
    from jointspace.encoders import encoder

    distinct = sorted(set(texts))
    vectors = encoder(TEXT_ENCODER).encode(distinct)
    row = {t: i for i, t in enumerate(distinct)}
    return vectors[[row[t] for t in texts]]


def _image_pass(pairs: PairSet, progress: Advance | None) -> np.ndarray:
    """EfficientNet features (1280) and ImageNet probabilities (1000) side by side, from one pass."""
    from jointspace.encoders import encoder

    enc = encoder("efficientnet")

    def run(items: list[Any]) -> np.ndarray:
        features, proba = enc.features_and_proba(items)
        return np.hstack([features, proba]).astype(np.float32)

    return cached_vectors(pairs.name, "efficientnet+proba", pairs.keys, pairs.right, run, batch_size=64,
                          progress=progress)


def right_vectors(pairs: PairSet, name: str, progress: Advance | None = None) -> np.ndarray:
    """The right side's vectors from encoder ``name`` (``image-text`` is the bridge into the text space)."""
    from jointspace.encoders import encoder

    if pairs.modalities[1] == "image" and name in ("efficientnet", "image-text"):
        both = _image_pass(pairs, progress)
        if name == "efficientnet":
            return np.ascontiguousarray(both[:, :1280])
        return encoder("image-text").from_proba(both[:, 1280:])
    enc = encoder(name)
    key = name
    if not enc.is_fitted:  # e.g. audio-stats learns a standardisation: from the training split only
        enc.fit(load_pairs(pairs.name, "train").right)
        key = f"{name}-fitted-on-train"
    return cached_vectors(pairs.name, key, pairs.keys, pairs.right, lambda items: enc.encode(items),
                          batch_size=16, progress=progress)


def evaluate_alignment(dataset: str, method: str, right_encoder: str | None = None,
                       train_size: int | None = None, test_size: int | None = None, seed: int = 0,
                       params: dict[str, Any] | None = None, plot: str | Path | None = None,
                       progress: Advance | None = None,
                       train_progress: Callable[[int, int, dict[str, float]], None] | None = None
                       ) -> dict[str, Any]:
    """Held-out metrics of ``method`` on ``dataset`` (see ``cross_modal_metrics`` for the shape)."""
    from jointspace.align import make_aligner
    from jointspace.errors import JointspaceError

    if method not in METHODS:
        raise JointspaceError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    aligner = None if method == "bridge" else make_aligner(
        method, **({"seed": seed} if method == "contrastive" else {}), **(params or {}))
    test = load_pairs(dataset, "test", test_size, seed)
    left_test = text_vectors(test.left)
    bridge = None
    if aligner is None or plot:  # the bridge's vectors only when scored or drawn (speech is slow to encode)
        bridge = (left_test, right_vectors(test, BRIDGES[dataset], progress))
    joint = bridge
    if aligner is not None:
        train = load_pairs(dataset, "train", train_size, seed)
        name = right_encoder or RIGHT_ENCODERS[dataset]
        aligner.fit(text_vectors(train.left), right_vectors(train, name, progress), groups=train.groups,
                    progress=train_progress)
        joint = (aligner.transform_left(left_test), aligner.transform_right(right_vectors(test, name)))
    assert joint is not None
    metrics = cross_modal_metrics(joint[0], joint[1], test.groups, test.groups)
    if plot and bridge is not None:
        from jointspace.align.plot import Panel, plot_joint_space

        panels = [Panel(f"before: zero-shot bridge ({BRIDGES[dataset]})", *bridge, test.classes, test.classes)]
        if aligner is not None:
            panels.append(Panel(f"after: {method} ({name} -> {aligner.dim}-d)", *joint, test.classes, test.classes))
        names = dict(enumerate(test.class_names)) if test.class_names else None
        plot_joint_space(panels, plot, modalities=test.modalities, class_names=names, seed=seed)
    return metrics
