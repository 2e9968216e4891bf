"""The ``jointspace`` command line. Each command group lives in its own module and registers here."""

from __future__ import annotations

import jointspace.cli.classify_commands  # noqa: F401  (registers classify, nearest, map)
import jointspace.cli.recommend_commands  # noqa: F401  (registers recommend, interactions, vectors)
import jointspace.cli.scale_commands  # noqa: F401  (migrate)
import jointspace.cli.serve_commands  # noqa: F401  (registers `serve`)
from jointspace.cli import (  # noqa: F401  (registers commands)
    align_commands,
    collection_commands,
    evaluate_commands,
    media_commands,
)
from jointspace.cli.app import app

__all__ = ["app"]
