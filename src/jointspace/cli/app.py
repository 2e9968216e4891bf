"""The Typer application and the helpers every command shares (console, progress, errors)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(help="jointspace: multimodal embeddings, one joint vector space, search and more.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
evaluate_app = typer.Typer(help="Measure encoders and spaces on real data sets.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


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
