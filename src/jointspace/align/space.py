"""The joint space: a fitted aligner plus, per side, the encoder that feeds it; saved as one directory.

Layout of a saved space (``format`` in space.json is checked on load)::

    space.json        format, method and parameters, each side's modality/encoder/dim, held-out metrics
    arrays.npz        the aligner's fitted arrays (numpy only: loading needs no torch)
    left_encoder/     the left side's encoder (when it has one), as ``Encoder.save`` writes it
    right_encoder/

A space is written into a temporary sibling directory and renamed into place, so an interrupted
save (Ctrl-C, a crash) never leaves a half-written space under the target name.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.align.base import Aligner, as_matrix
from jointspace.align.cca import CCAAligner
from jointspace.align.contrastive import ContrastiveAligner
from jointspace.align.procrustes import ProcrustesAligner
from jointspace.encoders import Encoder, load_encoder
from jointspace.errors import FormatError, JointspaceError
from jointspace.version import __version__

SPACE_FORMAT = 1
SPACE_FILE = "space.json"
METHODS: dict[str, type[Aligner]] = {
    "procrustes": ProcrustesAligner,
    "cca": CCAAligner,
    "contrastive": ContrastiveAligner,
}


def make_aligner(method: str, **params: Any) -> Aligner:
    """An unfitted aligner by name: ``"procrustes"``, ``"cca"`` or ``"contrastive"``."""
    if method not in METHODS:
        raise JointspaceError(f"unknown alignment method {method!r}; use one of {', '.join(METHODS)}")
    try:
        return METHODS[method](**params)
    except TypeError as exc:
        raise JointspaceError(f"{method}: {exc}") from exc


@dataclass
class Side:
    """One side of the pairs: its modality, and the encoder whose output the space maps (None: raw vectors)."""

    modality: str
    encoder: Encoder | None = None
    field: str | None = None

    def describe(self) -> dict[str, Any]:
        enc = self.encoder
        return {"modality": self.modality, "field": self.field,
                "encoder": None if enc is None else {"name": enc.name, "dim": enc.dim}}


@dataclass
class JointSpace:
    """A learned map of two encoders' outputs into one shared space (see ``jointspace.align``)."""

    aligner: Aligner
    left: Side
    right: Side
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.aligner.name

    @property
    def dim(self) -> int:
        return self.aligner.dim

    def side_name(self, side: str) -> str:
        """"left"/"right", also accepting a modality name ("text", "image") when it picks one side."""
        if side in ("left", "right"):
            return side
        matches = [name for name, s in (("left", self.left), ("right", self.right)) if s.modality == side]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise JointspaceError(f"this space joins {self.left.modality} and {self.right.modality}; "
                                  f"it has no {side!r} side")
        raise JointspaceError(f"both sides of this space are {side!r}: say 'left' or 'right'")

    def side(self, side: str) -> Side:
        return self.left if self.side_name(side) == "left" else self.right

    def transform(self, vectors: Any, side: str = "left") -> np.ndarray:
        """Encoder vectors of one side -> joint-space vectors (unit length, float32)."""
        return self.aligner.transform(vectors, self.side_name(side))

    def encode(self, items: Any, side: str = "left", batch_size: int = 64) -> np.ndarray:
        """Raw items of one side (texts, image paths, ...) through that side's encoder, then into the space."""
        s = self.side(side)
        if s.encoder is None:
            return self.transform(as_matrix(items, side), side)
        return self.transform(s.encoder.encode(list(items), batch_size=batch_size), side)

    # -- persistence ------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "format": SPACE_FORMAT,
            "jointspace": __version__,
            "method": self.method,
            "params": self.aligner.get_params(),
            "dim": self.dim,
            "left": {**self.left.describe(), "dim": self.aligner.in_dims[0]},
            "right": {**self.right.describe(), "dim": self.aligner.in_dims[1]},
            "metrics": self.metrics,
            "info": self.info,
        }

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the space to ``path`` atomically (a temporary sibling renamed into place)."""
        path = Path(path)
        if path.exists():
            if not (path / SPACE_FILE).exists() and any(path.iterdir()):
                raise JointspaceError(f"{path}: exists and is not a jointspace space; refusing to replace it")
            if (path / SPACE_FILE).exists() and not overwrite:
                raise JointspaceError(f"{path}: a space exists already (overwrite=True to replace it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            with open(tmp / "arrays.npz", "wb") as fh:
                np.savez(fh, **self.aligner.state)
                fh.flush()
                os.fsync(fh.fileno())
            for name, s in (("left", self.left), ("right", self.right)):
                if s.encoder is not None:
                    s.encoder.save(tmp / f"{name}_encoder")
            description = {**self.describe(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            with open(tmp / SPACE_FILE, "w") as fh:
                json.dump(description, fh, indent=2, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            if path.exists():
                path.rename(old)
            tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not path.exists():
                old.rename(path)  # put the previous space back
            raise
        shutil.rmtree(old, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> JointSpace:
        path = Path(path)
        file = path / SPACE_FILE
        if not file.exists():
            raise JointspaceError(f"{path}: not a jointspace space (no {SPACE_FILE})")
        try:
            config = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise FormatError(f"{file}: damaged ({exc})") from exc
        if config.get("format") != SPACE_FORMAT:
            raise FormatError(f"{path}: space format {config.get('format')!r} is not supported by jointspace "
                              f"{__version__} (it reads format {SPACE_FORMAT}); align the pairs again")
        aligner = make_aligner(config["method"], **config["params"])
        try:
            with np.load(path / "arrays.npz") as arrays:
                aligner.state = {k: arrays[k] for k in arrays.files}
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path / 'arrays.npz'}: damaged ({exc})") from exc
        sides = []
        for name in ("left", "right"):
            desc = config[name]
            enc_dir = path / f"{name}_encoder"
            enc = load_encoder(enc_dir) if enc_dir.exists() else None
            sides.append(Side(desc["modality"], enc, desc.get("field")))
        return cls(aligner, sides[0], sides[1], config.get("metrics", {}), config.get("info", {}))

    def __repr__(self) -> str:
        return (f"JointSpace({self.method}, {self.left.modality}[{self.aligner.in_dims[0]}] <-> "
                f"{self.right.modality}[{self.aligner.in_dims[1]}] -> {self.dim}-d)")
