"""``jointspace evaluate ...``: each data set's figures, as a table or as JSON."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from jointspace.cli.app import evaluate_app, fail, out, progress_bar, run_safely

RETRIEVAL_DATASETS = ("wordnet-gloss", "asterisk-prompts")


def print_metrics(title: str, metrics: dict[str, float], as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


@evaluate_app.command("retrieval")
def retrieval(
    dataset: str = typer.Option("wordnet-gloss", "--dataset", help=f"one of {RETRIEVAL_DATASETS}"),
    encoder: str = typer.Option("minilm", "--encoder"),
    size: int = typer.Option(3000, "--size", help="number of items/queries"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object of metric -> number"),
) -> None:
    """Query -> item retrieval: recall@1, recall@10, MRR."""
    from jointspace.evaluate import retrieval as ev

    def body() -> None:
        if dataset == "wordnet-gloss":
            with progress_bar(f"{dataset} / {encoder}", size) as advance:
                metrics = ev.wordnet_gloss(encoder, n=size, seed=seed, progress=advance)
        elif dataset == "asterisk-prompts":  # transcript -> audio; --encoder names the text encoder
            from jointspace.evaluate.speech_retrieval import asterisk_prompts

            with progress_bar(f"{dataset} / speech", min(size, 568)) as advance:
                metrics = asterisk_prompts(n=size, seed=seed, progress=advance, text_encoder=encoder, cache=False)
        else:
            fail(f"unknown dataset {dataset!r}; use one of {RETRIEVAL_DATASETS}")
        print_metrics(f"{dataset} retrieval, encoder {encoder}", metrics, as_json)

    run_safely(body)
