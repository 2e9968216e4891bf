"""``jointspace align`` (learn a joint space from pairs) and ``jointspace caption`` (image -> captions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from jointspace.cli.app import app, console, fail, out, parse_params, progress_bar, run_safely


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("direction")
    for col in ("recall@1", "recall@5", "recall@10", "median_rank"):
        table.add_column(col, justify="right")
    for direction in ("left->right", "right->left"):
        m = metrics[direction]
        table.add_row(direction, *(f"{m[c]:.3f}" for c in ("recall@1", "recall@5", "recall@10")),
                      f"{m['median_rank']:g}")
    table.caption = f"modality gap {metrics['modality_gap']:.3f}"
    return table


@app.command("align")
def align_command(
    pairs: Path = typer.Argument(..., help="pair records: .jsonl, .csv, .tsv or .parquet"),
    left: str = typer.Option(..., "--left", help="left side, MODALITY:FIELD (text:caption) or ENCODER:FIELD"),
    right: str = typer.Option(..., "--right", help="right side, e.g. image:path, audio:clip, vector:embedding"),
    method: str = typer.Option("contrastive", "--method", help="procrustes, cca or contrastive"),
    out_dir: Path = typer.Option(..., "--out", help="space directory to write"),
    left_encoder: str = typer.Option(None, "--left-encoder", help="encoder for the left side (default by modality)"),
    right_encoder: str = typer.Option(None, "--right-encoder", help="encoder for the right side"),
    group: str = typer.Option(None, "--group", help="field holding a class per pair (pairs of a class match)"),
    dim: int = typer.Option(None, "--dim", help="joint dimension (default: the method's)"),
    head: str = typer.Option(None, "--head", help="contrastive: linear or mlp"),
    epochs: int = typer.Option(None, "--epochs", help="contrastive: most epochs"),
    param: list[str] = typer.Option(None, "--param", "-p", help="other method parameters, key=value"),
    holdout: float = typer.Option(0.2, "--holdout", help="fraction of pairs held out to measure recall"),
    seed: int = typer.Option(0, "--seed"),
    id_field: str = typer.Option("id", "--id", help="field naming each pair in reports"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing space at --out"),
    as_json: bool = typer.Option(False, "--json", help="print the held-out metrics as JSON"),
) -> None:
    """Learn a joint space from pairs and save it; prints held-out recall both ways."""
    from jointspace.align import align, make_aligner
    from jointspace.align.pairs import SideSpec, read_pairs
    from jointspace.cli.collection_commands import count_lines
    from jointspace.readers import read_records

    def body() -> None:
        params = parse_params(param)
        for key, value in (("dim", dim), ("head", head), ("epochs", epochs)):
            if value is not None:
                params[key] = value
        make_aligner(method, **params)  # bad method or parameters fail before any encoding
        if (out_dir / "space.json").exists() and not overwrite:
            fail(f"{out_dir}: a space exists already (use --overwrite to replace it)")
        lspec, rspec = SideSpec.parse(left, left_encoder), SideSpec.parse(right, right_encoder)
        source = read_records(pairs)
        total = count_lines(pairs)
        with progress_bar(f"encoding {pairs.name}", 2 * total if total else None) as advance:
            data = read_pairs(source, lspec, rspec, pairs.resolve().parent, id_field=id_field, progress=advance)
        skipped = source.skipped + data.skipped
        console.print(f"{len(data.records)} pairs read, {len(skipped)} skipped")
        for s in skipped[:20]:
            console.print(f"  [yellow]skipped[/yellow] {s}")
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more")
        groups = None
        if group:
            groups = [r.get(group) for r in data.records]
            if any(g is None for g in groups):
                fail(f"--group {group!r}: some pairs have no value in that field")
        epochs_total = params.get("epochs", 200) if method == "contrastive" else 1
        with progress_bar(f"training {method}", epochs_total) as advance:
            done = [0]

            def report(step: int, total: int, info: dict[str, float]) -> None:
                advance(step - done[0])
                done[0] = step
                if info and (step == 1 or step % 5 == 0):
                    console.print(f"  epoch {step}: loss {info['loss']:.4f}, held-back recall "
                                  f"{info['val_recall']:.3f}, temperature {info['temperature']:.4f}")

            space = align(data.left, data.right, method, left_encoder=lspec.encoder, right_encoder=rspec.encoder,
                          left_modality=lspec.modality, right_modality=rspec.modality, groups=groups,
                          holdout=holdout, seed=seed, progress=report, **params)
        space.left.field, space.right.field = lspec.field, rspec.field
        space.info["pairs_file"] = str(pairs)
        space.save(out_dir, overwrite=overwrite)
        console.print(f"[green]{out_dir}[/green]: {space!r}")
        if space.metrics:
            if as_json:
                print(json.dumps(space.metrics))
            else:
                out.print(metrics_table(f"held-out pairs ({space.info['heldout_pairs']}), "
                                        f"{lspec.modality} -> {rspec.modality} = left->right", space.metrics))

    try:
        run_safely(body)
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/red]: nothing written to {out_dir}")
        raise typer.Exit(130) from None


def space_for_index(space_dir: Path, side: str | None, text: list[str], data: Path, out_dir: Path
                    ) -> tuple[Any, list[str], Any]:
    """For ``index --space``: the space's encoder for the items' side, the field(s) to embed, and a
    record fixer that resolves relative file paths against the data file's folder."""
    from jointspace.align import JointSpace
    from jointspace.align.pairs import FILE_MODALITIES
    from jointspace.align.space_encoder import SpaceEncoder
    from jointspace.errors import JointspaceError

    space = JointSpace.load(space_dir)
    if side is None:
        non_text = [name for name, s in (("left", space.left), ("right", space.right)) if s.modality != "text"]
        side = non_text[0] if len(non_text) == 1 else "right"
    enc = SpaceEncoder.of(space, side)
    item_side = space.side(enc.side)
    if (out_dir / "manifest.json").exists():
        manifest = json.loads((out_dir / "manifest.json").read_text())
        if manifest.get("encoder", {}).get("name") != "space":
            raise JointspaceError(f"{out_dir}: an existing collection built without a space; --space applies "
                                  "when a collection is created (index into a new --out)")
    fields = [item_side.field] if text == ["text"] and item_side.field else text
    if item_side.modality not in FILE_MODALITIES:
        return enc, fields, None
    base = data.resolve().parent

    def fix(record: dict[str, Any]) -> dict[str, Any]:
        for name in fields:
            value = record.get(name)
            if isinstance(value, str) and value and not Path(value).is_absolute() and not Path(value).exists():
                record = {**record, name: str(base / value)}
        return record

    return enc, fields, fix


@app.command("caption")
def caption_command(
    image: Path = typer.Argument(..., help="an image file"),
    captions: Path = typer.Option(..., "--captions", help="candidates: a text file (one per line), a .jsonl/"
                                  ".csv with a caption field, or a folder of .txt files"),
    k: int = typer.Option(5, "-k", "--k", min=1, help="how many captions"),
    space: Path = typer.Option(None, "--space", help="a joint space with image and text sides (default: the "
                               "zero-shot image-text bridge)"),
    field: str = typer.Option(None, "--field", help="caption field of a records file (default caption or text)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of {caption, score, source}"),
) -> None:
    """The captions closest to an image, with scores."""
    from jointspace.align.captions import rank_captions, read_captions
    from jointspace.errors import ItemError

    def body() -> None:
        candidates = read_captions(captions, field)
        try:
            ranked = rank_captions(str(image), candidates, k=k, space=space)
        except ItemError as exc:
            fail(f"{exc.item}: {exc.reason}")
        if as_json:
            print(json.dumps([c.to_dict() for c in ranked], ensure_ascii=False))
            return
        table = Table(title=f"[bold]{image.name}[/bold]: {len(candidates)} candidate captions")
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("caption", overflow="fold")
        table.add_column("source", style="dim")
        for rank, c in enumerate(ranked, start=1):
            table.add_row(str(rank), f"{c.score:.3f}", c.text, c.source)
        out.print(table)

    run_safely(body)
