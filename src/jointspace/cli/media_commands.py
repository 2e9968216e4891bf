"""Commands over images and audio: ``evaluate zero-shot`` (image -> text bridge on Fashion-MNIST)."""

from __future__ import annotations

import typer

from jointspace.cli.app import evaluate_app, fail, progress_bar, run_safely
from jointspace.cli.evaluate_commands import print_metrics

ZERO_SHOT_DATASETS = ("fashion-mnist",)


@evaluate_app.command("zero-shot")
def zero_shot(
    dataset: str = typer.Option("fashion-mnist", "--dataset", help=f"one of {ZERO_SHOT_DATASETS}"),
    size: int = typer.Option(10_000, "--size", help="number of test images (a seeded sample when fewer)"),
    top: int = typer.Option(10, "--top", help="ConSE: how many ImageNet classes each image mixes"),
    invert: bool = typer.Option(True, "--invert/--no-invert", help="show the white-on-black images inverted"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object of metric -> number"),
) -> None:
    """Zero-shot classification by the nearest class description; text -> image precision@10."""
    from jointspace.evaluate.zero_shot import fashion_mnist

    def body() -> None:
        if dataset != "fashion-mnist":
            fail(f"unknown dataset {dataset!r}; use one of {ZERO_SHOT_DATASETS}")
        with progress_bar(f"{dataset} zero-shot (image-text, top {top})", min(size, 10_000)) as advance:
            metrics = fashion_mnist(n=size, invert=invert, seed=seed, progress=advance, top=top)
        print_metrics(f"{dataset} zero-shot, image-text bridge", metrics, as_json)

    run_safely(body)
