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

#: how `jointspace --help` groups the commands, in this order (each panel lists its commands in this order)
PANELS = {
    "Collections": ["index", "info", "delete", "export", "check", "reindex", "vectors", "interactions", "demo"],
    "Search": ["search", "recommend", "caption"],
    "Models and tasks": ["encoders", "align", "classify", "nearest", "map"],
    "Evaluation": ["evaluate"],
    "Serving and scale": ["serve", "migrate"],
}


def _group_commands() -> None:
    rank = {name: (i, j) for i, names in enumerate(PANELS.values()) for j, name in enumerate(names)}
    panel = {name: title for title, names in PANELS.items() for name in names}

    def name_of(info: object) -> str:
        return getattr(info, "name", None) or getattr(getattr(info, "callback", None), "__name__", "").replace("_", "-")

    for info in [*app.registered_commands, *app.registered_groups]:
        info.rich_help_panel = panel.get(name_of(info), "Other")
    app.registered_commands.sort(key=lambda c: rank.get(name_of(c), (99, 0)))
    app.registered_groups.sort(key=lambda g: rank.get(name_of(g), (99, 0)))


_group_commands()

__all__ = ["app"]
