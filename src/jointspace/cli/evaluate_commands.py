"""``jointspace evaluate ...``: each data set's figures, as a table or as JSON."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from jointspace.cli.app import console, evaluate_app, fail, out, parse_params, progress_bar, run_safely

RETRIEVAL_DATASETS = ("wordnet-gloss", "rt-plots", "asterisk-prompts")
WORD_DATASETS = ("wordsim353", "simlex999")
PARAM_HELP = "encoder parameter KEY=VALUE (VALUE read as JSON when it parses, else as text); repeatable"


def print_metrics(title: str, metrics: dict[str, Any], as_json: bool) -> None:
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
    size: int = typer.Option(3000, "--size", help="number of queries (wordnet-gloss: also of items)"),
    seed: int = typer.Option(0, "--seed"),
    fit_on: str = typer.Option("auto", "--fit-on", help="what a trainable encoder is fitted on: auto, indexed "
                               "(the indexed items) or corpus (the data set's other texts, queries left out)"),
    param: list[str] = typer.Option(None, "--param", "-p", help=PARAM_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object of metric -> number"),
) -> None:
    """Query -> item retrieval: recall@1, recall@10, MRR (wordnet-gloss: gloss -> word; rt-plots: review -> plot)."""
    from jointspace.evaluate import classic_tasks as ev

    def body() -> None:
        params = parse_params(param)
        if dataset == "asterisk-prompts":  # transcript -> audio; --encoder names the text encoder
            from jointspace.evaluate.speech_retrieval import asterisk_prompts

            with progress_bar(f"{dataset} / speech", min(size, 568)) as advance:
                metrics = asterisk_prompts(n=size, seed=seed, progress=advance, text_encoder=encoder, cache=False)
            print_metrics(f"{dataset} retrieval, encoder {encoder}", metrics, as_json)
            return
        if dataset not in RETRIEVAL_DATASETS:
            fail(f"unknown dataset {dataset!r}; use one of {RETRIEVAL_DATASETS}")
        run = ev.wordnet_gloss if dataset == "wordnet-gloss" else ev.rt_plots
        console.print(f"[dim]{dataset} / {encoder}: fitting (if trainable) and indexing...[/dim]")
        with progress_bar(f"{dataset} / {encoder}", size if dataset == "wordnet-gloss" else 1097) as advance:
            metrics = run(encoder, n=size, seed=seed, fit_on=fit_on, progress=advance, **params)
        print_metrics(f"{dataset} retrieval, encoder {encoder}", metrics, as_json)

    run_safely(body)


@evaluate_app.command("word-similarity")
def word_similarity(
    dataset: str = typer.Option("wordsim353", "--dataset", help=f"one of {WORD_DATASETS}"),
    encoder: str = typer.Option("word2vec", "--encoder"),
    param: list[str] = typer.Option(None, "--param", "-p", help=PARAM_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object of metric -> number"),
) -> None:
    """Spearman rho between human similarity scores and the encoder's cosine, over the pairs it covers."""
    from jointspace.evaluate import classic_tasks as ev

    def body() -> None:
        if dataset not in WORD_DATASETS:
            fail(f"unknown dataset {dataset!r}; use one of {WORD_DATASETS}")
        with console.status(f"{dataset} / {encoder}: fitting (if trainable) on WordNet and scoring"):
            metrics = ev.word_similarity(encoder, dataset, **parse_params(param))
        print_metrics(f"{dataset} word similarity, encoder {encoder}", metrics, as_json)

    run_safely(body)
