"""The Typer application and the helpers every command shares (console, progress, errors)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import typer

from jointspace.display import console, out, progress_bar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(help="jointspace: multimodal embeddings, one joint vector space, search and more.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
evaluate_app = typer.Typer(help="Measure encoders and spaces on real data sets.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")

__all__ = ["app", "console", "evaluate_app", "fail", "out", "parse_params", "progress_bar", "run_safely"]


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``-p/--param KEY=VALUE`` pairs (every command that takes an encoder) -> keyword arguments; a VALUE is
    read as JSON when it parses (``dim=100``, ``stop_words=null``, ``ngram_range=[1,2]``), else as text."""
    import json

    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--param {pair!r}: expected KEY=VALUE, e.g. -p dim=1024")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def run_safely(fn: Callable[[], Any]) -> Any:
    """Run a command body; jointspace's own errors print one clear line instead of a traceback."""
    from jointspace.errors import JointspaceError

    try:
        return fn()
    except (JointspaceError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        fail(str(message))
