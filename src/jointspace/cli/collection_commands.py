"""index, search, info and demo: the commands over an embedded collection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from jointspace.cli.app import app, console, out, parse_params, progress_bar, run_safely
from jointspace.errors import JointspaceError
from jointspace.values import dumps


def count_lines(path: Path) -> int | None:
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        return None
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


@app.command()
def index(
    data: Path = typer.Argument(..., help="records (.jsonl, .csv, .tsv, .parquet), or a folder of "
                                          "files (images, audio, video, text)"),
    out_dir: str = typer.Option(None, "--out", help="collection directory (created, or added to)"),
    store: str = typer.Option(None, "--store", help="a postgresql://...[?table=NAME] URL instead of --out"),
    id_field: str = typer.Option("id", "--id", help="field holding each record's id"),
    text: list[str] = typer.Option(["text"], "--text", help="field(s) to embed: repeat --text, or a,b"),
    meta: list[str] = typer.Option(None, "--meta", help="metadata field(s) to keep (default: all)"),
    encoder: str = typer.Option(None, "--encoder", help="encoder name (see `jointspace encoders`); default minilm "
                                "for a new collection; an existing one keeps its own (a different name is an error)"),
    index_kind: str = typer.Option(None, "--index", help="flat (exact) or hnsw; default flat in a directory, "
                                                         "hnsw in PostgreSQL"),
    batch_size: int = typer.Option(1024, "--batch-size", help="records per encode step (sorted by length within it)"),
    shards: int = typer.Option(None, "--shards", help="a new directory collection split into N shards, "
                                                      "searched in parallel"),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (a Ray Data job)"),
    address: str = typer.Option(None, "--address", help="Ray cluster address (host:port); default: start a "
                                                        "local Ray"),
    workers: int = typer.Option(None, "--workers", help="Ray: encoder actors (each loads the model once)"),
    work_dir: Path = typer.Option(None, "--work-dir", help="Ray: where embedding shards go (default: "
                                                           "DIR/_embeddings; needed with --store)"),
    image: list[str] = typer.Option(None, "--image", help="field(s) holding image file paths"),
    audio: list[str] = typer.Option(None, "--audio", help="field(s) holding audio file paths"),
    video: list[str] = typer.Option(None, "--video", help="field(s) holding video file paths"),
    param: list[str] = typer.Option(None, "--param", "-p", help="encoder parameter KEY=VALUE (JSON value, or text), "
                                    "e.g. -p dim=100 or -p lexicon=themes.json; repeatable"),
    space: Path = typer.Option(None, "--space", help="a joint space (jointspace align): items go through it"),
    side: str = typer.Option(None, "--side", help="with --space: the side the items are (default: not text)"),
    quantize: str = typer.Option(None, "--quantize", help="a new collection keeps int8 or binary codes in memory "
                                 "for search (float32 stays in SQLite; the best candidates are rescored exactly)"),
    atomic: bool = typer.Option(False, "--atomic", help="all or nothing: one transaction for the whole input "
                                "(default: one per batch, so an interrupted run keeps its finished batches "
                                "and a re-run resumes)"),
) -> None:
    """Embed records into a collection. Into an existing one, records are upserted by id; records stored
    already with the same content are not encoded again (an interrupted run resumes where it stopped).

    A trainable encoder (tfidf, lsa, lda, word2vec, ...) is fitted on the records of the first run and
    saved with the collection; later runs and searches reuse it. A FOLDER is walked and every file indexed
    into one space (modality detected by content); with --image/--audio/--video the records' files are
    embedded with their text (encoder "joint").
    """
    from jointspace.cli import media_commands as media_cli
    from jointspace.collection import Collection
    from jointspace.readers import read_records
    from jointspace.stores.postgres import redact

    media = {f: kind for kind, names in (("image", image), ("audio", audio), ("video", video)) for f in names or []}

    text = [name.strip() for value in text for name in value.split(",") if name.strip()]

    def body() -> None:
        target = store or out_dir
        if not target or (store and out_dir):
            raise JointspaceError("give exactly one of --out DIR and --store URL")
        keep = set(meta or []) | set(text) | set(media) | {id_field}
        if data.is_dir() and engine == "local":
            if store:
                raise JointspaceError("indexing a folder of files needs --out DIR")
            if encoder not in (None, "joint"):
                raise JointspaceError(f"a folder of files is indexed with the joint encoder (every modality in "
                                      f"one space), not {encoder!r}; leave --encoder out")
            return media_cli.index_folder(data, Path(out_dir), batch_size=min(batch_size, 16),
                                          index_kind=index_kind or "flat")
        if engine == "ray":
            from jointspace.distributed import index as ray_index

            result = ray_index(data, target, fields=text, id_field=id_field, encoder=encoder or "minilm",
                               index=index_kind,
                               shards=shards, keep=sorted(keep) if meta else None, batch_size=batch_size,
                               address=address, workers=workers, work_dir=work_dir, show_progress=True)
            console.print(f"[green]{redact(target)}[/green]: {result.summary()}")
            for s in result.skipped[:20]:
                console.print(f"  [yellow]skipped[/yellow] {s}")
            return
        if engine != "local":
            raise JointspaceError(f"unknown engine {engine!r}; use local or ray")
        source = read_records(data)
        enc: Any = encoder
        fields, fix = text, None
        if space is not None:
            from jointspace.cli.align_commands import space_for_index

            enc, fields, fix = space_for_index(space, side, text, data, Path(out_dir or "."))
            keep = set(meta or []) | set(fields) | {id_field}

        def records() -> Any:
            for record in source:
                record = fix(record) if fix else record
                record = media_cli.resolve_media(record, list(media), data.parent) if media else record
                yield record if not meta else {k: v for k, v in record.items() if k in keep}

        if media:
            col = Collection.open_or_create(target, encoder=encoder or "joint",
                                 fields=[*text, *media], id_field=id_field, index=index_kind, shards=shards,
                                 media=media, **parse_params(param))
        else:
            col = Collection.open_or_create(target, encoder=enc or "minilm", fields=fields, id_field=id_field,
                                            index=index_kind, shards=shards, check_encoder=enc is not None,
                                            quantize=quantize, **parse_params(param))
        total = count_lines(data)
        if total and data.suffix.lower() in (".csv", ".tsv"):
            total -= 1
        with progress_bar(f"indexing {data.name}", total) as advance:
            report = col.upsert(records(), batch_size=min(batch_size, 16) if media else batch_size,
                                progress=advance, atomic=atomic)
        count = len(col)
        col.close()
        skipped = source.skipped + report.skipped
        unchanged = f", {report.unchanged} already stored (not encoded again)" if report.unchanged else ""
        console.print(f"[green]{redact(target)}[/green]: {report.added} added, {report.updated} updated"
                      f"{unchanged}, {len(skipped)} skipped; {count} items")
        for s in skipped[:20]:
            console.print(f"  [yellow]skipped[/yellow] {s}")
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more")
        for note in report.notes[:10]:
            console.print(f"  [cyan]stored as null[/cyan] {note}")
        if len(report.notes) > 10:
            console.print(f"  ... and {len(report.notes) - 10} more values stored as null")

    run_safely(body)


def _why(explain: dict[str, Any] | None) -> str:
    """A short line from a hit's explanation: each side's rank and score, the matched terms."""
    if not explain:
        return ""
    parts = []
    for side in ("dense", "lexical"):
        facts = explain.get(side)
        if facts:
            terms = f" [{', '.join(facts.get('terms', []))}]" if facts.get("terms") else ""
            parts.append(f"{side} #{facts['rank']} {facts['score']:.3f}{terms}")
    return "  [dim]" + "; ".join(parts) + "[/dim]" if parts else ""


def _show_hits(query: str, hits: list[Any], fields: list[str], explain: bool = False) -> None:
    from jointspace.display import describe

    table = Table(title=f"[bold]{query}[/bold]", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("id")
    table.add_column("item", overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        if "modality" in hit.fields:  # a media collection: say what the hit is
            table.add_row(str(rank), f"{hit.score:.3f}", str(hit.id), describe(hit)[:400])
            continue
        shown = " | ".join(str(hit.fields.get(f, "")) for f in fields if f in hit.fields)
        extra = {k: v for k, v in hit.fields.items() if k not in fields}
        if extra:
            shown += "  " + " ".join(f"[dim]{k}={v}[/dim]" for k, v in list(extra.items())[:4])
        table.add_row(str(rank), f"{hit.score:.3f}", str(hit.id), shown[:300] + (_why(hit.explain) if explain else ""))
    out.print(table)


@app.command()
def search(
    collection: str = typer.Argument(..., help="collection directory or postgresql://... URL"),
    query: str = typer.Argument(None, help="what to look for (text)"),
    k: int = typer.Option(10, "-k", "--k", help="number of results", min=1, max=10_000),
    where: str = typer.Option(None, "--where", help='metadata filter, e.g. "year >= 2000 and genre = drama"'),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of {id, score, fields}"),
    image: Path = typer.Option(None, "--image", help="search with an image file instead of text"),
    audio: Path = typer.Option(None, "--audio", help="search with an audio file (what is said in it)"),
    video: Path = typer.Option(None, "--video", help="search with a video file"),
    modality: str = typer.Option(None, "--modality", help="only hits of this kind: text, image, audio, video"),
    mode: str = typer.Option("dense", "--mode", help="dense (vectors), lexical (BM25 over the words) or hybrid"),
    alpha: float = typer.Option(None, "--alpha", min=0.0, max=1.0, help="hybrid: weight of the dense side "
                                "(1 = dense only); leave out for reciprocal rank fusion"),
    explain: bool = typer.Option(False, "--explain", help="say why each hit ranks where it does"),
) -> None:
    """Search a collection by text, or by an image, audio or video file (media collections)."""
    from jointspace.cli.media_commands import media_query, modality_where
    from jointspace.collection import Collection

    def body() -> None:
        col = Collection.open(collection)
        q, kind = media_query(query, image, audio, video)
        hits = col.search(q, k=k, where=modality_where(modality, where), modality=kind, mode=mode, alpha=alpha,
                          explain=explain)
        query_label = query if kind == "text" else f"{kind}: {q}"
        if as_json:
            print(dumps([h.to_dict() for h in hits]))
        else:
            _show_hits(query_label, hits, col.fields, explain)

    run_safely(body)


@app.command()
def delete(
    collection: str = typer.Argument(..., help="collection directory or postgresql://... URL"),
    ids: list[str] = typer.Argument(None, help="ids of the items to delete"),
    file: Path = typer.Option(None, "--file", help="a file of ids, one per line"),
    where: str = typer.Option(None, "--where", help='delete every item matching a filter, e.g. "year < 1950"'),
    as_json: bool = typer.Option(False, "--json", help="print the write report as JSON"),
) -> None:
    """Delete items by id, from a file of ids, or by a filter; unknown ids are reported."""
    from jointspace.collection import Collection

    def body() -> None:
        given = [bool(ids), file is not None, where is not None]
        if sum(given) != 1:
            raise JointspaceError("give ids, --file F or --where W (exactly one of them)")
        with Collection.open(collection) as col:
            if file is not None:
                wanted = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
            elif where is not None:
                wanted = col.ids_where(where)
            else:
                wanted = list(ids)
            report = col.delete(wanted)
            left = len(col)
        if as_json:
            print(json.dumps(report.to_dict()))
            return
        console.print(f"{report.deleted} deleted, {len(report.skipped)} not found; {left} items left")
        for s in report.skipped[:20]:
            console.print(f"  [yellow]skipped[/yellow] {s}")

    run_safely(body)


@app.command()
def info(
    collection: str = typer.Argument(..., help="collection directory or postgresql://... URL"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Count, encoder, dimensions, size on disk, and the metadata fields with their types and counts."""
    from jointspace.collection import Collection

    def body() -> None:
        with Collection.open(collection) as col:
            facts = col.info()
            facts["metadata_fields"] = {name: kinds for name, kinds in col.catalog().items()}
        if as_json:
            print(dumps(facts))
            return
        fields = facts.pop("metadata_fields")
        table = Table(show_header=False)
        for key, value in facts.items():
            table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
        out.print(table)
        if fields:
            kinds = Table(title="metadata fields (filter on them with --where)")
            kinds.add_column("field")
            kinds.add_column("types: items")
            for name, counts in fields.items():
                kinds.add_row(name, ", ".join(f"{kind}: {n}" for kind, n in counts.items()))
            out.print(kinds)

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
    from jointspace.demos import run_demo

    run_safely(lambda: run_demo(workdir, size=size, eval_size=eval_size))


@app.command()
def check(
    collection: str = typer.Argument(..., help="collection directory (embedded or sharded)"),
    as_json: bool = typer.Option(False, "--json", help="print the checks as JSON"),
) -> None:
    """Check a collection without changing it: SQLite's integrity check, every vector's dimension, the
    encoder's state, and each cache against the generation it was built from. Exit code 1 on an error."""
    from jointspace.stores.embedded.store import check as check_store
    from jointspace.stores.sharded import SHARDS_FILE

    def body() -> None:
        from jointspace.stores import is_database_url

        if is_database_url(collection):
            raise JointspaceError("check reads a collection directory; for PostgreSQL use the server's own tools "
                                  "(amcheck, pg_dump), which see what jointspace cannot")
        path = Path(collection)
        if (path / SHARDS_FILE).exists():
            rows = [(f"{shard.name}: {what}", status, detail) for shard in sorted(path.glob("shard-*"))
                    for what, status, detail in check_store(shard)]
        else:
            rows = check_store(path)
        if as_json:
            print(dumps([{"check": w, "status": s, "detail": d} for w, s, d in rows]))
        else:
            table = Table(title=f"jointspace check {collection}")
            for name in ("check", "status", "detail"):
                table.add_column(name)
            colour = {"ok": "green", "stale": "yellow", "missing": "dim", "error": "red"}
            for what, status, detail in rows:
                table.add_row(what, f"[{colour[status]}]{status}[/{colour[status]}]", detail)
            out.print(table)
        if any(status == "error" for _, status, _ in rows):
            raise typer.Exit(1)

    run_safely(body)


@app.command()
def reindex(
    collection: str = typer.Argument(..., help="collection directory or postgresql://... URL"),
) -> None:
    """Build what a collection written by an older version lacks (the lexical index for hybrid search) and
    refresh its caches (vector matrix, metadata columns), with a progress bar."""
    from jointspace.collection import Collection

    def body() -> None:
        with Collection.open(collection) as col:
            total = len(col)
            with progress_bar("lexical index", total) as advance:
                built = col.build_lexical(progress=advance)
            col.warm()
        console.print(f"[green]{collection}[/green]: lexical index {'built' if built else 'already current'}; "
                      f"caches refreshed; {total} items")

    run_safely(body)


@app.command()
def export(
    collection: str = typer.Argument(..., help="collection directory or postgresql://... URL"),
    target: Path = typer.Argument(..., help="a .parquet or .jsonl file to write"),
    vectors: bool = typer.Option(False, "--vectors", help="also write each item's vector"),
) -> None:
    """Write every item (id and fields) to Parquet or JSONL, streamed: memory does not grow with the data."""
    from jointspace.collection import Collection

    def body() -> None:
        with Collection.open(collection) as col:
            n = col.export(target, vectors=vectors)
        console.print(f"[green]{target}[/green]: {n} items written")

    run_safely(body)
