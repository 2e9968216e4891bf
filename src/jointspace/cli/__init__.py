"""The ``jointspace`` command line. Each command group lives in its own module and registers here."""

from __future__ import annotations

from jointspace.cli import (  # noqa: F401  (registers commands)
    align_commands,
    collection_commands,
    evaluate_commands,
    media_commands,
)
from jointspace.cli.app import app

__all__ = ["app"]
