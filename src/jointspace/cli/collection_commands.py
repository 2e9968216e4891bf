"""index, search, info and demo: the commands over an embedded collection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from jointspace.cli.app import app, console, out, progress_bar, run_safely


def count_lines(path: Path) -> int | None:
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        return None
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


@app.command()
def index(
    data: Path = typer.Argument(..., help="records: .jsonl, .csv, .tsv or .parquet"),
    out_dir: Path = typer.Option(..., "--out", help="collection directory (created, or added to)"),
    id_field: str = typer.Option("id", "--id", help="field holding each record's id"),
    text: list[str] = typer.Option(["text"], "--text", help="field(s) to embed"),
    meta: list[str] = typer.Option(None, "--meta", help="metadata field(s) to keep (default: all)"),
    encoder: str = typer.Option("minilm", "--encoder", help="encoder name (see `jointspace encoders`)"),
    index_kind: str = typer.Option("flat", "--index", help="flat (exact) or hnsw"),
    batch_size: int = typer.Option(256, "--batch-size"),
    space: Path = typer.Option(None, "--space", help="a joint space (jointspace align): items go through it"),
    side: str = typer.Option(None, "--side", help="with --space: the side the items are (default: not text)"),
) -> None:
    """Embed records into a collection. Into an existing DIR, records are upserted by id."""
    from jointspace.collection import Collection
    from jointspace.readers import read_records

    def body() -> None:
        source = read_records(data)
        enc: Any = encoder
        fields, fix = text, None
        if space is not None:
            from jointspace.cli.align_commands import space_for_index

            enc, fields, fix = space_for_index(space, side, text, data, out_dir)
        keep = set(meta or []) | set(fields) | {id_field}

        def records() -> Any:
            for record in source:
                record = fix(record) if fix else record
                yield record if not meta else {k: v for k, v in record.items() if k in keep}

        if (out_dir / "manifest.json").exists():
            col = Collection.open(out_dir)
        else:
            col = Collection.create(out_dir, encoder=enc, fields=fields, id_field=id_field, index=index_kind)
        total = count_lines(data)
        if total and data.suffix.lower() in (".csv", ".tsv"):
            total -= 1
        with progress_bar(f"indexing {data.name}", total) as advance:
            report = col.upsert(records(), batch_size=batch_size, progress=advance)
        count = len(col)
        col.close()
        skipped = source.skipped + report.skipped
        console.print(f"[green]{out_dir}[/green]: {report.added} added, {report.updated} updated, "
                      f"{len(skipped)} skipped; {count} items")
        for s in skipped[:20]:
            console.print(f"  [yellow]skipped[/yellow] {s}")
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more")

    run_safely(body)


def _show_hits(query: str, hits: list[Any], fields: list[str]) -> None:
    table = Table(title=f"[bold]{query}[/bold]", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("id")
    table.add_column("item", overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        shown = " | ".join(str(hit.fields.get(f, "")) for f in fields if f in hit.fields)
        extra = {k: v for k, v in hit.fields.items() if k not in fields}
        if extra:
            shown += "  " + " ".join(f"[dim]{k}={v}[/dim]" for k, v in list(extra.items())[:4])
        table.add_row(str(rank), f"{hit.score:.3f}", str(hit.id), shown[:300])
    out.print(table)


@app.command()
def search(
    collection: Path = typer.Argument(..., help="collection directory"),
    query: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(10, "-k", "--k", help="number of results", min=1, max=10_000),
    where: str = typer.Option(None, "--where", help='metadata filter, e.g. "year >= 2000 and genre = drama"'),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of {id, score, fields}"),
) -> None:
    """Search a collection by text."""
    from jointspace.collection import Collection

    def body() -> None:
        col = Collection.open(collection)
        hits = col.search(query, k=k, where=where)
        if as_json:
            print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        else:
            _show_hits(query, hits, col.fields)

    run_safely(body)


@app.command()
def info(
    collection: Path = typer.Argument(..., help="collection directory"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Count, encoder, dimensions and size on disk of a collection."""
    from jointspace.collection import Collection

    def body() -> None:
        facts = Collection.open(collection).info()
        if as_json:
            print(json.dumps(facts))
            return
        table = Table(show_header=False)
        for key, value in facts.items():
            table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
        out.print(table)

    run_safely(body)


@app.command("encoders")
def list_encoders() -> None:
    """The encoder names the registry knows."""
    from jointspace.encoders import available

    for name in available():
        out.print(name)


@app.command()
def demo(
    workdir: Path = typer.Option(Path("demo-data"), "--dir", help="where the demo collections go"),
    size: int = typer.Option(10_000, "--size", help="synsets in the reverse-dictionary collection"),
    eval_size: int = typer.Option(2000, "--eval-size", help="synsets in the retrieval evaluation"),
) -> None:
    """The main job on built-in data: a reverse dictionary over WordNet 3.0, and its quality."""
    from jointspace.demo import run_demo

    run_safely(lambda: run_demo(workdir, size=size, eval_size=eval_size))
