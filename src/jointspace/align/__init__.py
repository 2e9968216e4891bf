"""Learn a joint space from pairs: ``jointspace.align(left, right, method=...)`` -> ``JointSpace``.

Methods: ``"procrustes"`` (orthogonal map after centring and PCA), ``"cca"`` (regularised CCA) and
``"contrastive"`` (projection heads trained with symmetric InfoNCE). Any two encoders can be joined:
text-image, text-audio, image-audio, or raw vectors (e.g. behaviour vectors) on either side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jointspace.align.base import Aligner, Progress, check_groups, check_pairs, pair_groups
from jointspace.align.cca import CCAAligner
from jointspace.align.contrastive import ContrastiveAligner, holdout_split
from jointspace.align.procrustes import ProcrustesAligner
from jointspace.align.space import METHODS, JointSpace, Side, make_aligner
from jointspace.encoders import Encoder
from jointspace.encoders import encoder as make_encoder
from jointspace.errors import JointspaceError


def _side_vectors(items: Any, enc: str | Encoder | None, modality: str | None, name: str
                  ) -> tuple[np.ndarray, Side]:
    """Vectors of one side: ``items`` as they are (a numeric matrix), or encoded by ``enc``."""
    encoder_obj = make_encoder(enc) if isinstance(enc, str) else enc
    is_matrix = isinstance(items, np.ndarray) and items.ndim == 2 and np.issubdtype(items.dtype, np.number)
    if encoder_obj is not None and not is_matrix:
        vectors = encoder_obj.encode(list(items))
    elif encoder_obj is None and not is_matrix:
        try:
            vectors = np.asarray(items, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise JointspaceError(f"{name} side: raw items need an encoder ({name}_encoder=...)") from exc
    else:
        vectors = items
    if encoder_obj is not None and vectors.shape[1] != encoder_obj.dim:
        raise JointspaceError(f"{name} vectors of dim {vectors.shape[1]} do not come from encoder "
                              f"{encoder_obj.name!r} (dim {encoder_obj.dim})")
    side_modality = modality or (encoder_obj.modality if encoder_obj is not None else "vector")
    return vectors, Side(side_modality, encoder_obj)


def align(left: Any, right: Any, method: str = "contrastive", *, left_encoder: str | Encoder | None = None,
          right_encoder: str | Encoder | None = None, left_modality: str | None = None,
          right_modality: str | None = None, groups: Any = None, holdout: float = 0.2, seed: int = 0,
          progress: Progress | None = None, **params: Any) -> JointSpace:
    """Learn a joint space from pairs ``(left[i], right[i])``.

    ``left``/``right``: matrices of encoder vectors, or raw items (texts, image paths...) with the
    side's encoder given. ``groups``: optional class per pair (pairs of one class match each other).
    ``holdout``: the fraction of pairs kept out of training and used for the reported ``metrics``
    (recall@1/5/10 and median rank both ways, modality gap). Extra keyword arguments go to the method,
    e.g. ``dim=64``, ``head="linear"``.
    """
    from jointspace.evaluate.alignment import cross_modal_metrics

    aligner = make_aligner(method, **({"seed": seed} if method == "contrastive" else {}), **params)
    lvec, lside = _side_vectors(left, left_encoder, left_modality, "left")
    rvec, rside = _side_vectors(right, right_encoder, right_modality, "right")
    lvec, rvec = check_pairs(lvec, rvec, aligner.min_pairs)
    codes = pair_groups(lvec, rvec) if groups is None else check_groups(groups, len(lvec))
    if not 0 <= holdout < 0.9:
        raise JointspaceError(f"holdout must be in [0, 0.9), got {holdout}")
    train, held = holdout_split(len(lvec), holdout, seed)
    if len(train) < aligner.min_pairs:
        raise JointspaceError(f"{len(lvec)} pairs leave {len(train)} for training after holding out "
                              f"{len(held)}: {method} needs at least {aligner.min_pairs}")
    aligner.fit(lvec[train], rvec[train], None if groups is None else codes[train], progress=progress)
    metrics: dict[str, Any] = {}
    if len(held) >= 2:
        metrics = cross_modal_metrics(aligner.transform_left(lvec[held]), aligner.transform_right(rvec[held]),
                                      codes[held], codes[held])
    info = {"pairs": len(lvec), "train_pairs": len(train), "heldout_pairs": len(held), "seed": seed,
            "groups_given": groups is not None}
    if isinstance(aligner, ContrastiveAligner):
        info["history"] = aligner.history
    return JointSpace(aligner, lside, rside, metrics, info)


def load_space(path: Any) -> JointSpace:
    """A space saved with ``JointSpace.save``."""
    return JointSpace.load(path)


__all__ = [
    "METHODS",
    "Aligner",
    "CCAAligner",
    "ContrastiveAligner",
    "JointSpace",
    "ProcrustesAligner",
    "Side",
    "align",
    "load_space",
    "make_aligner",
]
