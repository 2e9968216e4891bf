"""What people see in a terminal: the consoles, a progress bar, and a one-line description of a hit.

Below the surfaces on purpose: the CLI, the demos and the distributed jobs all show progress the same way,
and none of them has to import the CLI to do it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: messages and progress (stderr), and results (stdout)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
MEDIA_FIELDS = ("image", "audio", "video")


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def describe(hit: Any) -> str:
    """What a hit is, for people: its kind, file and what the bridge saw or heard."""
    f = hit.fields
    kind = f.get("modality", "text")
    where = f.get("file") or next((f[k] for k in MEDIA_FIELDS if isinstance(f.get(k), str)), "")
    parts = [f"[bold]\\[{kind}][/bold]"]
    if where:
        parts.append(str(where))
    if f.get("transcript"):
        parts.append(f"said: \"{f['transcript']}\"")
    elif "transcript" in f:
        parts.append("(no words recognised)")
    if f.get("labels"):
        parts.append(f"looks like: {f['labels']}")
    if f.get("snippet") and kind == "text":
        parts.append(f"\"{f['snippet'][:160]}\"")
    return " ".join(parts)
