"""``classify train|predict|evaluate``, ``nearest train|predict|add`` and ``map``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from jointspace.cli.app import app, console, fail, out, parse_params, progress_bar, run_safely

classify_app = typer.Typer(help="Classifiers on embeddings (+ metadata): train, predict, evaluate.",
                           no_args_is_help=True)
nearest_app = typer.Typer(help="Label messages by their nearest known examples, with an open-set 'unknown'.",
                          no_args_is_help=True)
app.add_typer(classify_app, name="classify")
app.add_typer(nearest_app, name="nearest")


def _print_skipped(skipped: list[Any]) -> None:
    for s in skipped[:10]:
        console.print(f"  [yellow]skipped[/yellow] {s}")
    if len(skipped) > 10:
        console.print(f"  ... and {len(skipped) - 10} more")


def _print_cv(title: str, summary: dict[str, Any], threshold: dict[str, Any] | None) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    for key in ("precision", "recall", "f1", "mcc", "accuracy", "roc_auc", "pr_auc"):
        if key in summary:
            table.add_row(key, f"{summary[key]:.4f}", f"{summary.get(key + '_std', 0):.4f}")
    out.print(table)
    if threshold:
        reached = "" if threshold["reached"] else " [red](target not reached on validation)[/red]"
        console.print(f"threshold {threshold['threshold']:.4f} for {threshold['target']} "
                      f"{threshold['value'] if threshold['value'] is not None else 'max'}: validation precision "
                      f"{threshold['precision']:.3f}, recall {threshold['recall']:.3f}{reached}")


def _config(text: str, label: str, meta: list[str] | None, encoder: str, encoder_param: list[str] | None,
            model: str, folds: int, seed: int, target_precision: float | None, target_recall: float | None,
            positive: str | None, tune: bool = False, c: float | None = None) -> Any:
    from jointspace.tasks.classify import MODELS, ClassifierConfig

    if model not in MODELS:
        fail(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    if folds < 2:
        fail("--folds must be at least 2")
    for name, value in (("--target-precision", target_precision), ("--target-recall", target_recall)):
        if value is not None and not 0 < value <= 1:
            fail(f"{name} must lie in (0, 1]")
    if target_precision is not None and target_recall is not None:
        fail("give --target-precision or --target-recall, not both")
    if c is not None and (c <= 0 or model == "mlp"):
        fail("--C must be positive, and applies to logreg and svm only")
    return ClassifierConfig(text_field=text, label_field=label, meta=list(meta or []), encoder=encoder,
                            encoder_params=parse_params(encoder_param), model=model, folds=folds, seed=seed,
                            target_precision=target_precision, target_recall=target_recall, positive=positive,
                            tune=tune, C=c)


def _prime(config: Any, data: Path) -> Any:
    """Read the rows and encode their texts once (pretrained encoders), with a progress bar."""
    from jointspace.encoders import encoder_class
    from jointspace.tasks.classify import labelled_rows, load_frame
    from jointspace.tasks.features import EncoderFeatures, encoding_progress

    frame, skipped = load_frame(data)
    rows, _, bad = labelled_rows(frame, config.text_field, config.label_field)
    if not encoder_class(config.encoder).trainable and len(rows):
        with progress_bar(f"encoding with {config.encoder}", len(set(rows[config.text_field]))) as advance:
            with encoding_progress(advance):
                EncoderFeatures(config.encoder, config.encoder_params).fit([]).transform(rows[config.text_field])
    return frame, skipped


TEXT = typer.Option("text", "--text", help="field holding the text")
LABEL = typer.Option("label", "--label", help="field holding the label")
META = typer.Option(None, "--meta", help="metadata field (repeat); name:num or name:cat forces its kind")
ENCODER = typer.Option("minilm", "--encoder", help="encoder name (see `jointspace encoders`)")
ENCODER_PARAM = typer.Option(None, "--param", "-p", "--encoder-param",
                             help="encoder setting KEY=VALUE (JSON value, or text); repeatable")
MODEL = typer.Option("logreg", "--model", help="logreg, svm or mlp")
FOLDS = typer.Option(5, "--folds", help="stratified cross-validation folds")
TUNE = typer.Option(False, "--tune", help="choose C (and 1- or 1-2-word n-grams for tfidf/bow/lsa) by 3-fold "
                                          "cross-validation first")
C_OPTION = typer.Option(None, "--C", help="inverse regularisation of logreg / svm (default 10 / 1)")


@classify_app.command("train")
def classify_train(
    data: Path = typer.Argument(..., help="labelled records: .jsonl, .csv, .tsv or .parquet"),
    out_dir: Path = typer.Option(..., "--out", help="model directory (written whole, or not at all)"),
    text: str = TEXT, label: str = LABEL, meta: list[str] = META, encoder: str = ENCODER,
    encoder_param: list[str] = ENCODER_PARAM, model: str = MODEL, folds: int = FOLDS, tune: bool = TUNE,
    c: float = C_OPTION, seed: int = typer.Option(0, "--seed"),
    target_precision: float = typer.Option(None, "--target-precision", help="choose the threshold for this"),
    target_recall: float = typer.Option(None, "--target-recall", help="choose the threshold for this"),
    positive: str = typer.Option(None, "--positive", help="the positive label of two (default: 1/spam/..., "
                                                          "else the rarer)"),
    as_json: bool = typer.Option(False, "--json", help="print the model manifest as JSON"),
) -> None:
    """Train a classifier; report stratified k-fold figures and write ROC/PR/confusion PNGs into MODEL_DIR."""
    from jointspace.tasks.classify import train
    from jointspace.tasks.features import vector_cache

    def body() -> None:
        config = _config(text, label, meta, encoder, encoder_param, model, folds, seed, target_precision,
                         target_recall, positive, tune, c)
        with vector_cache():
            frame, skipped = _prime(config, data)
            with progress_bar(f"{folds}-fold cross-validation + final fit", folds + 1) as advance:
                manifest = train(frame, config, out_dir, progress=advance, title=f"{encoder} + {model}")
        if as_json:
            print(json.dumps(manifest, default=str))
            return
        _print_cv(f"{folds}-fold cross-validation: {encoder} + {model}", manifest["cv"], manifest["threshold_info"])
        _print_tuning(manifest["config"].get("tuning"))
        console.print(f"[green]{out_dir}[/green]: {manifest['rows']} rows, classes {manifest['classes']}; "
                      f"{len(skipped) + len(manifest['skipped'])} skipped; figures {', '.join(manifest['figures'])}")
        _print_skipped(manifest["skipped"])

    run_safely(body)


SHOWN = 50  # rows a prediction table shows; --json gives all


def _texts_of(rows: Any, field: str) -> list[tuple[Any, Any]]:
    """(id, text) of each input row, for the prediction table."""
    from jointspace.tasks.classify import load_frame

    frame, _ = load_frame(rows)
    ids = list(frame["id"]) if "id" in frame.columns else list(range(1, len(frame) + 1))
    return list(zip(ids, frame[field] if field in frame.columns else [""] * len(frame), strict=True))


def _is_records_file(value: str | Path | None) -> bool:
    from jointspace.readers.records import FORMATS

    return value is not None and Path(str(value)).suffix.lower() in FORMATS and Path(str(value)).is_file()


def _say_source(source: str) -> None:
    console.print(f"[dim]{source}[/dim]")


def _cut_note(shown: int, total: int) -> None:
    if total > shown:
        console.print(f"{shown} of {total} shown; --json for all")


@classify_app.command("predict")
def classify_predict(
    model_dir: Path = typer.Argument(..., help="a directory written by `classify train`"),
    data: str = typer.Argument(..., help="records to classify (.jsonl, .csv, .tsv, .parquet), or one text"),
    as_json: bool = typer.Option(False, "--json", help="a JSON list of {label, probability, neighbours}"),
    label: str = typer.Option(None, "--label", help="also score against this label field"),
    neighbours: int = typer.Option(3, "--neighbours", help="nearest training examples shown per row", min=0),
) -> None:
    """Classify records, in input order, each with its 3 nearest training examples as an explanation."""
    from jointspace.tasks.classify import ClassifierModel

    def body() -> None:
        model = ClassifierModel(model_dir)
        field = model.config.text_field
        if _is_records_file(data):
            _say_source(f"classifying the records of {data} (text field {field!r})")
            rows: Any = data
        else:
            if Path(data).suffix and not Path(data).exists() and len(data.split()) == 1:
                fail(f"{data}: no such file (to classify this as a text, put it in quotes with a space, or pass a "
                     "records file)")
            _say_source(f"classifying one text given on the command line (as field {field!r})")
            rows = [{field: data}]
        results, skipped = model.predict(rows, neighbours=neighbours)
        texts = _texts_of(rows, field)
        if as_json:
            print(json.dumps(results, ensure_ascii=False, default=str))
        else:
            table = Table(title=f"{model_dir.name}: {len(results)} rows")
            for col in ("#", "id", "text", "label", "probability", "nearest example"):
                table.add_column(col)
            for i, r in enumerate(results[:SHOWN], start=1):
                near = r["neighbours"][0] if r.get("neighbours") else {}
                row_id, text_value = texts[i - 1] if i - 1 < len(texts) else ("", "")
                table.add_row(str(i), escape(str(row_id)), escape(str(text_value)[:60]), str(r["label"]),
                              "" if r["probability"] is None else f"{r['probability']:.3f}",
                              escape(f"[{near.get('label')}] {str(near.get('text', r.get('error', '')))[:60]}"))
            out.print(table)
            _cut_note(min(SHOWN, len(results)), len(results))
        _print_skipped(skipped)
        if label:
            metrics = model.score(data, label)
            console.print("scored: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))

    run_safely(body)


@classify_app.command("evaluate")
def classify_evaluate(
    data: Path = typer.Argument(..., help="labelled records"),
    text: str = TEXT, label: str = LABEL, meta: list[str] = META, encoder: str = ENCODER,
    encoder_param: list[str] = ENCODER_PARAM, model: str = MODEL, folds: int = FOLDS, tune: bool = TUNE,
    c: float = C_OPTION, seed: int = typer.Option(0, "--seed"),
    target_precision: float = typer.Option(None, "--target-precision"),
    target_recall: float = typer.Option(None, "--target-recall"),
    positive: str = typer.Option(None, "--positive"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Stratified k-fold figures of one encoder + model; nothing is written."""
    def body() -> None:
        config = _config(text, label, meta, encoder, encoder_param, model, folds, seed, target_precision,
                         target_recall, positive, tune, c)
        report = classify_report(data, config)
        if as_json:
            print(json.dumps(report, default=str))
        else:
            _print_cv(f"{folds}-fold cross-validation: {config.encoder} + {config.model}", report["mean"],
                      report["threshold"])
            _print_tuning(report.get("tuning"))
            _print_skipped(report["skipped"])

    run_safely(body)


def classify_report(data: Path, config: Any) -> dict[str, Any]:
    """Cross-validated figures of ``config`` on a labelled file (``classify evaluate``, ``evaluate classify``)."""
    from jointspace.tasks.classify import cross_validate, labelled_rows
    from jointspace.tasks.classify import tune as tune_config
    from jointspace.tasks.features import vector_cache

    with vector_cache():
        frame, skipped = _prime(config, data)
        rows, labels, bad = labelled_rows(frame, config.text_field, config.label_field)
        if config.tune:
            with progress_bar("tuning C / n-grams", 1) as advance:
                config = tune_config(rows, labels, config)
                advance(1)
        with progress_bar(f"{config.folds}-fold cross-validation", config.folds) as advance:
            cv = cross_validate(rows, labels, config, progress=advance)
    cv.tuning = config.tuning
    report = cv.report()
    report["skipped"] = [str(s) for s in skipped + bad]
    return report


def _print_tuning(tuning: dict[str, Any] | None) -> None:
    if tuning:
        chosen = tuning["chosen"]
        console.print(f"--tune chose C {chosen['C']}" + (f", n-grams {chosen['ngram_range']}"
                                                         if chosen["ngram_range"] else "")
                      + f" ({tuning['folds']}-fold macro F1 {chosen['macro_f1']:.4f} over {len(tuning['grid'])} "
                        f"settings)")


@nearest_app.command("train")
def nearest_train(
    examples: Path = typer.Argument(..., help="labelled example records"),
    out_dir: Path = typer.Option(..., "--out", help="nearest-examples directory"),
    text: str = TEXT, label: str = LABEL, encoder: str = ENCODER, encoder_param: list[str] = ENCODER_PARAM,
    space: str = typer.Option("supervised", "--space", help="supervised (MiniLM + TF-IDF + class probabilities, "
                                                            "the default), plain, nca or fusion"),
    k: int = typer.Option(None, "-k", "--k", help="neighbours that vote (default: chosen by cross-validation)",
                          min=1),
    vote: str = typer.Option(None, "--vote", help="similarity, uniform or softmax (default: chosen by "
                                                  "cross-validation)"),
    accept_rate: float = typer.Option(None, "--accept-rate", help="answer `unknown` below the similarity that "
                                                                  "keeps this share of held-out in-scope examples"),
    outliers: Path = typer.Option(None, "--outliers", help="out-of-scope messages (records with --text): "
                                                           "answer `unknown` below the cut-off that best "
                                                           "separates them from the examples"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Embed known examples; choose k and the vote; with --outliers or --accept-rate, calibrate `unknown`."""
    from jointspace.tasks.classify import load_frame
    from jointspace.tasks.nearest import train_nearest

    def body() -> None:
        outlier_texts = None
        if outliers:
            frame, _ = load_frame(outliers)
            if text not in frame.columns:
                fail(f"{outliers}: no field {text!r}")
            outlier_texts = [t for t in frame[text] if isinstance(t, str) and t.strip()]
        frame, skipped = load_frame(examples)
        with progress_bar(f"encoding examples with {encoder}", len(frame)) as advance:
            manifest = train_nearest(frame, out_dir, text_field=text, label_field=label, encoder=encoder,
                                     encoder_params=parse_params(encoder_param), space=space, k=k, vote=vote,
                                     accept_rate=accept_rate, outliers=outlier_texts, seed=seed, progress=advance)
        cal = manifest["calibration"]
        unknown = ("no `unknown` (give --outliers or --accept-rate for one)" if manifest["threshold"] is None
                   else f"unknown below similarity {manifest['threshold']:.4f}")
        console.print(f"[green]{out_dir}[/green]: {manifest['examples']} examples, labels {manifest['labels']}; "
                      f"k {manifest['k']}, {manifest['vote']} vote; {unknown}; held-out k-NN accuracy "
                      f"{cal['held_out_accuracy']:.3f}, accepted {cal['held_out_accepted']:.3f}"
                      + (f", outliers rejected {cal['outliers_rejected']:.3f}" if cal["outliers_rejected"] is not None
                         else ""))
        _print_skipped([*skipped, *manifest["skipped"]])

    run_safely(body)


@nearest_app.command("predict")
def nearest_predict(
    model_dir: Path = typer.Argument(..., help="a directory written by `nearest train`"),
    message: str = typer.Argument(None, help="one message, or a records file (.jsonl, .csv, .tsv, .parquet)"),
    file: Path = typer.Option(None, "--file", help="records holding messages"),
    text: str = typer.Option("text", "--text", help="field holding the message in --file"),
    as_json: bool = typer.Option(False, "--json", help="a JSON list of {label, score, neighbours}"),
) -> None:
    """The label of the closest known examples, or `unknown` when none is close enough."""
    from jointspace.tasks.classify import load_frame
    from jointspace.tasks.nearest import NearestModel

    def body() -> None:
        source = file
        if file is None and _is_records_file(message):
            source = Path(message)
        if (message is None) == (file is None) and not (file is None and source is not None):
            fail('give one message, or --file DATA (not both)')
        ids: list[Any]
        if source is not None:
            frame, skipped = load_frame(source)
            if text not in frame.columns:
                fail(f"{source}: no field {text!r}")
            messages = list(frame[text])
            ids = list(frame["id"]) if "id" in frame.columns else list(range(1, len(frame) + 1))
            _say_source(f"labelling the {len(messages)} messages of {source} (field {text!r})")
        else:
            messages, skipped, ids = [message], [], [1]
            _say_source("labelling one message given on the command line")
        model = NearestModel(model_dir)
        results = model.predict(messages)
        model.close()
        if as_json:
            print(json.dumps(results, ensure_ascii=False, default=str))
            return
        title = "no unknown" if model.threshold is None else f"unknown below {model.threshold:.3f}"
        table = Table(title=f"{model_dir.name}: {title}")
        for col in ("#", "id", "text", "label", "score", "similarity", "nearest example"):
            table.add_column(col)
        for i, r in enumerate(results[:SHOWN], start=1):
            near = r["neighbours"][0] if r.get("neighbours") else {}
            table.add_row(str(i), escape(str(ids[i - 1])), escape(str(messages[i - 1])[:60]), str(r["label"]),
                          "" if r["score"] is None else f"{r['score']:.3f}", f"{r.get('similarity', 0) or 0:.3f}",
                          escape(f"[{near.get('label')}] {str(near.get('text', r.get('error', '')))[:60]}"))
        out.print(table)
        _cut_note(min(SHOWN, len(results)), len(results))
        _print_skipped(skipped)

    run_safely(body)


@nearest_app.command("add")
def nearest_add(
    model_dir: Path = typer.Argument(..., help="a directory written by `nearest train`"),
    examples: Path = typer.Argument(..., help="labelled example records"),
    text: str = typer.Option(None, "--text", help="text field (default: the one trained with)"),
    label: str = typer.Option(None, "--label", help="label field (default: the one trained with)"),
) -> None:
    """Add known examples (new labels too); searchable at once, nothing is retrained."""
    from jointspace.tasks.nearest import NearestModel

    def body() -> None:
        model = NearestModel(model_dir)
        report = model.add(examples, text, label)
        model.close()
        console.print(f"[green]{model_dir}[/green]: {report.summary()}; {model.manifest['examples']} examples")
        _print_skipped(report.skipped)

    run_safely(body)


@app.command("map")
def map_command(
    collection: Path = typer.Argument(..., help="collection directory (`jointspace index` or `nearest train`)"),
    color_by: str = typer.Option(..., "--color-by", help="field whose values colour the points"),
    out_file: Path = typer.Option(Path("map.png"), "--out", help="PNG to write"),
    method: str = typer.Option("pca", "--method", help="pca or tsne"),
    k: int = typer.Option(8, "--clusters", help="k-means clusters", min=1),
    limit: int = typer.Option(5000, "--limit", help="map a seeded sample of at most this many items", min=3),
    as_json: bool = typer.Option(False, "--json", help="print the clusters as JSON"),
) -> None:
    """A 2-D map of a collection coloured by a field, and k-means clusters with their top terms."""
    from jointspace.tasks.cluster import make_map

    def body() -> None:
        result = make_map(collection, color_by, out_file, method=method, k=k, limit=limit)
        if as_json:
            print(json.dumps(result, default=str))
            return
        table = Table(title=f"{result['items']} items, {method}: {out_file}")
        for col in ("cluster", "size", "top terms", color_by):
            table.add_column(col)
        for c in result["clusters"]:
            table.add_row(str(c["cluster"]), str(c["size"]), ", ".join(c["top_terms"]),
                          ", ".join(f"{v}: {n}" for v, n in c[color_by].items()))
        out.print(table)

    run_safely(body)
