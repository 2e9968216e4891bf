"""A joint space used as an encoder: a collection indexes one side of the space and is queried from the other.

``SpaceEncoder.of(space, "image")`` encodes images with the space's image encoder, then applies the
space's projection; ``encode_text`` embeds text queries through the text side. Saved with the
collection (the whole space is written into the encoder's folder), so the collection loads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jointspace.align.space import JointSpace
from jointspace.encoders.base import Encoder, check_texts
from jointspace.errors import JointspaceError, NotFittedError


class SpaceEncoder(Encoder):
    """Items of one side of a joint space -> joint-space vectors (``side``: left, right or a modality)."""

    name = "space"

    def __init__(self, side: str = "right") -> None:
        self.side = side
        self._space: JointSpace | None = None

    @classmethod
    def of(cls, space: JointSpace | str | Path, side: str) -> SpaceEncoder:
        if not isinstance(space, JointSpace):
            space = JointSpace.load(space)
        enc = cls(space.side_name(side))
        enc._space = space
        return enc

    @property
    def space(self) -> JointSpace:
        if self._space is None:
            raise NotFittedError("this space encoder has no space yet (SpaceEncoder.of(space, side))")
        return self._space

    @property
    def is_fitted(self) -> bool:
        return self._space is not None

    @property  # type: ignore[override]
    def modality(self) -> str:
        return self.space.side(self.side).modality if self._space is not None else "text"

    @property
    def dim(self) -> int:
        return self.space.dim

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.space.encode(items, self.side, batch_size=batch_size)

    def query_side(self, modality: str) -> str:
        """The side a query of ``modality`` goes through: the other side when both sides share it."""
        space = self.space
        sides = [name for name, s in (("left", space.left), ("right", space.right)) if s.modality == modality]
        if not sides:
            raise JointspaceError(f"this collection's space joins {space.left.modality} and "
                                  f"{space.right.modality}: it cannot embed a {modality} query")
        others = [s for s in sides if s != self.side]
        return others[0] if others else sides[0]

    def encode_text(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Text queries, through the space's text side."""
        return self.space.encode(check_texts(texts), self.query_side("text"), batch_size=batch_size)

    def encode_query(self, items: list[Any], modality: str, batch_size: int = 64) -> np.ndarray:
        """Queries of any modality the space has (an image query in an audio collection of an image-audio space)."""
        return self.space.encode(items, self.query_side(modality), batch_size=batch_size)

    def _save_state(self, path: Path) -> None:
        self.space.save(path / "space", overwrite=True)

    def _load_state(self, path: Path) -> None:
        self._space = JointSpace.load(path / "space")
