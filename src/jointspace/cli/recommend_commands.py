"""recommend, interactions and vectors: recommendation from the command line (``evaluate recommend`` lives in
evaluate_commands)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from jointspace.cli.app import app, console, fail, out, parse_params, progress_bar, run_safely


def _print_skipped(skipped: list, limit: int = 20) -> None:
    for s in skipped[:limit]:
        console.print(f"  [yellow]skipped[/yellow] {s}")
    if len(skipped) > limit:
        console.print(f"  ... and {len(skipped) - limit} more")


@app.command()
def recommend(
    collection: Path = typer.Argument(..., help="collection directory"),
    liked: str = typer.Option(None, "--liked", help="liked item ids, comma-separated (ID or ID@timestamp)"),
    user: str = typer.Option(None, "--user", help="a user whose indexed interactions are the profile"),
    k: int = typer.Option(10, "-k", "--k", help="number of results", min=1, max=10_000),
    weights: str = typer.Option(None, "--weights", help="field weights, e.g. text=1,theme=0.5,behaviour=1"),
    exclude_liked: bool = typer.Option(True, "--exclude-liked/--include-liked", help="leave out the liked items"),
    where: str = typer.Option(None, "--where", help='metadata filter, e.g. "year >= 1990"'),
    diversify: float = typer.Option(0.0, "--diversify", help="MMR trade-off: 0 = pure relevance, 1 = diversity",
                                    min=0.0, max=1.0),
    half_life: float = typer.Option(180.0, "--half-life-days", help="recency weighting when times are known"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of {id, score, fields, why}"),
) -> None:
    """Items for someone who liked --liked items (or for an indexed --user), each with why."""
    from jointspace.collection import Collection
    from jointspace.tasks.recommend import parse_weights

    def body() -> None:
        if (liked is None) == (user is None):
            fail("give either --liked ID[,ID...] or --user USER_ID")
        items: list[str | tuple[str, float]] = []
        for part in (liked or "").split(","):
            if not part.strip():
                continue
            item_id, sep, ts = part.strip().partition("@")
            try:
                items.append((item_id, float(ts)) if sep else item_id)
            except ValueError:
                fail(f"liked item {part.strip()!r}: the time after '@' must be a number (Unix seconds)")
        col = Collection.open(collection)
        recs = col.recommend(liked=items or None, user=user, k=k, weights=parse_weights(weights),
                             exclude_liked=exclude_liked, where=where, diversify=diversify, half_life_days=half_life)
        for item_id in recs.unknown:
            console.print(f"  [yellow]skipped[/yellow] liked id {item_id!r}: not in the collection")
        if as_json:
            print(json.dumps([r.to_dict() for r in recs], ensure_ascii=False))
            return
        names = ["title"] if recs and "title" in recs[0].fields else [f for f in col.fields if f != col.id_field]
        title = f"because {'user ' + repr(user) if user else 'you'} liked {len(recs.liked)} item(s)"
        table = Table(title=f"[bold]{title}[/bold]", title_justify="left")
        for name in ("#", "score", "id", "item", "top field", "nearest liked"):
            table.add_column(name, justify="right" if name in ("#", "score") else "left", overflow="fold")
        for rank, r in enumerate(recs, start=1):
            shown = " | ".join(str(r.fields.get(f, "")) for f in names if f in r.fields)[:80]
            near = r.why["nearest_liked"]
            near_fields = col.get(near)
            near_text = str(near_fields.get(names[0], near)) if names else near
            table.add_row(str(rank), f"{r.score:.3f}", r.id, shown, r.why["top_field"],
                          f"{near_text[:40]} ({r.why['nearest_liked_similarity']:.2f})")
        out.print(table)

    run_safely(body)


@app.command()
def interactions(
    collection: Path = typer.Argument(..., help="collection directory (its items are what gets vectors)"),
    data: Path = typer.Argument(..., help="interactions: .csv, .tsv, .jsonl or .parquet"),
    user_field: str = typer.Option("user", "--user-field"),
    item_field: str = typer.Option("item", "--item-field"),
    weight_field: str = typer.Option(None, "--weight-field", help="rating or count column (optional)"),
    time_field: str = typer.Option(None, "--time-field", help="Unix-time column (optional; recency)"),
    field: str = typer.Option("behaviour", "--field", help="name of the vector field to write"),
    factors: int = typer.Option(32, "--factors"),
    iterations: int = typer.Option(15, "--iterations"),
    model: str = typer.Option("als", "--model", help="als (matrix factorisation) or ease (closed-form item model)"),
    replace: bool = typer.Option(False, "--replace", help="forget the interactions indexed before"),
) -> None:
    """Index user-item interactions: fit the behaviour model, store item vectors and the interactions."""
    from jointspace.collection import Collection
    from jointspace.interactions import clean_interactions
    from jointspace.readers import read_records

    def body() -> None:
        source = read_records(data)
        clean, skipped = clean_interactions(source, user_field, item_field, weight_field, time_field)
        skipped = source.skipped + skipped
        if not clean:
            fail(f"{data}: no usable interactions ({len(skipped)} rows skipped; fields {user_field!r}, "
                 f"{item_field!r})")
        col = Collection.open(collection)
        with progress_bar("fitting the behaviour model", None):
            report = col.add_interactions(clean, field=field, merge=not replace, factors=factors,
                                          iterations=iterations, model=model)
        col.close()
        console.print(f"[green]{collection}[/green]: {len(clean)} interactions read, field {field!r} holds "
                      f"{report.added + report.updated} item vectors; {len(skipped) + len(report.skipped)} skipped")
        _print_skipped(skipped + report.skipped)

    run_safely(body)


@app.command("vectors")
def vectors(
    collection: str = typer.Argument(..., help="collection directory"),
    name: str = typer.Option(..., "--name", help="name of the vector field (e.g. theme)"),
    encoder: str = typer.Option(..., "--encoder", help="encoder name (see `jointspace encoders`)"),
    source: list[str] = typer.Option(..., "--from", help="stored field(s) the encoder reads"),
    param: list[str] = typer.Option(None, "--param", "-p", help="encoder setting KEY=VALUE (JSON value, or text); "
                                    "repeatable"),
) -> None:
    """Add (or recompute) a named vector field with an encoder over the items' stored fields."""
    from jointspace.collection import Collection

    def body() -> None:
        col = Collection.open(collection)
        with progress_bar(f"{name} = {encoder}({', '.join(source)})", len(col)) as advance:
            report = col.encode_field(name, encoder, source, progress=advance, **parse_params(param))
        col.close()
        console.print(f"[green]{collection}[/green]: field {name!r}: {report.added + report.updated} vectors, "
                      f"{len(report.skipped)} skipped")
        _print_skipped(report.skipped)

    run_safely(body)
