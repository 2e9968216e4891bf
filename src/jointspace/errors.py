"""The errors jointspace raises: one family, each with a message that names the item at fault."""

from __future__ import annotations


class JointspaceError(Exception):
    """Base class of every error jointspace raises on purpose."""


class ItemError(JointspaceError):
    """One input item could not be used; the batch it came from goes on without it."""

    def __init__(self, item: object, reason: str, position: int | None = None) -> None:
        self.item = item
        self.reason = reason
        self.position = position  # index of the item in the batch it came from, when known
        super().__init__(f"{item}: {reason}")


class FormatError(JointspaceError):
    """A collection or model on disk was written by an unknown format version, or is damaged."""


class NotFittedError(JointspaceError):
    """An encoder that learns from data was used before `fit`."""


class Busy(JointspaceError):
    """The collection stayed locked by another writer for longer than this write would wait."""


class DeadlineExceeded(JointspaceError):
    """A write passed its deadline before it committed: it was rolled back and nothing of it is stored."""


class Unsupported(JointspaceError):
    """The collection's store (backend) does not offer this capability; the message names the backend."""
