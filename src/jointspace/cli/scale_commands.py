"""``jointspace migrate``: copy a collection between a directory and PostgreSQL (and back)."""

from __future__ import annotations

import typer

from jointspace.cli.app import app, console, progress_bar, run_safely


@app.command()
def migrate(
    source: str = typer.Argument(..., help="collection directory or postgresql://... URL"),
    target: str = typer.Argument(..., help="collection directory or postgresql://...?table=NAME URL"),
    index_kind: str = typer.Option(None, "--index", help="target index: flat or hnsw (default: hnsw in "
                                                         "PostgreSQL, the source's in a directory)"),
    shards: int = typer.Option(None, "--shards", help="a directory target: split into N shards"),
) -> None:
    """Copy every item (vectors, fields, encoder) from SOURCE to TARGET without re-encoding."""
    from jointspace.collection import Collection
    from jointspace.migrate import migrate as run_migrate
    from jointspace.stores.postgres import redact

    def body() -> None:
        with Collection.open(source) as src:
            total = len(src)
        with progress_bar(f"migrating {redact(source)}", total) as advance:
            report = run_migrate(source, target, index=index_kind, shards=shards, progress=advance)
        console.print(f"[green]{redact(target)}[/green]: {report.summary()}")
        for s in report.skipped[:20]:
            console.print(f"  [yellow]skipped[/yellow] {s}")

    run_safely(body)
