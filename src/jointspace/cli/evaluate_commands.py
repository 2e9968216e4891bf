"""``jointspace evaluate ...``: every evaluate subcommand, built-in data sets and the user's own files alike,
each as a table or as JSON (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from jointspace.cli.app import console, evaluate_app, fail, out, parse_params, progress_bar, run_safely

RETRIEVAL_DATASETS = ("wordnet-gloss", "rt-plots", "asterisk-prompts")
WORD_DATASETS = ("wordsim353", "simlex999")
ZERO_SHOT_DATASETS = ("fashion-mnist",)
RECOMMEND_DATASETS = ("movielens-100k",)
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
    corpus: Path = typer.Option(None, "--corpus", help="your own documents: BEIR corpus.jsonl (_id, title, text)"),
    queries: Path = typer.Option(None, "--queries", help="with --corpus: BEIR queries.jsonl (_id, text)"),
    qrels: Path = typer.Option(None, "--qrels", help="with --corpus: qrels .tsv (query-id, corpus-id, score)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object of metric -> number"),
) -> None:
    """Query -> item retrieval: recall@1, recall@10, MRR (wordnet-gloss: gloss -> word; rt-plots: review -> plot),
    or on your own BEIR-style files with --corpus/--queries/--qrels (+ nDCG@10)."""
    from jointspace.evaluate import classic_tasks as ev

    def body() -> None:
        params = parse_params(param)
        own = [corpus, queries, qrels]
        if any(own):
            if not all(own):
                fail("your own retrieval set needs all three of --corpus, --queries and --qrels")
            from jointspace.evaluate.own_data import beir_retrieval

            with progress_bar(f"{corpus.name} / {encoder}: indexing", None) as advance:
                metrics = beir_retrieval(corpus, queries, qrels, encoder, params, progress=advance)
            print_metrics(f"{corpus.name} retrieval, encoder {encoder}", metrics, as_json)
            return
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


@evaluate_app.command("alignment")
def evaluate_alignment_command(
    dataset: str = typer.Option("fashion-mnist", "--dataset", help="fashion-mnist or asterisk-prompts"),
    method: str = typer.Option("contrastive", "--method", help="bridge (zero-shot), procrustes, cca, contrastive"),
    right_encoder: str = typer.Option(None, "--right-encoder", help="encoder of the image/audio side for the "
                                      "learned methods (default: efficientnet for images, speech for audio)"),
    train_size: int = typer.Option(None, "--train-size", help="training pairs (fashion-mnist default 3000)"),
    test_size: int = typer.Option(None, "--test-size", help="held-out pairs (fashion-mnist default 2000)"),
    param: list[str] = typer.Option(None, "--param", "-p", help="method parameters, key=value (e.g. head=linear)"),
    seed: int = typer.Option(0, "--seed"),
    plot: Path = typer.Option(None, "--plot", help="write a PNG of the space before/after alignment"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
) -> None:
    """Cross-modal retrieval on held-out pairs, both ways: recall@1/5/10, median rank, modality gap."""
    from jointspace.evaluate.alignment_run import evaluate_alignment

    def body() -> None:
        from jointspace.cli.align_commands import metrics_table
        from jointspace.cli.align_commands import parse_params as parse_method_params

        params = parse_method_params(param)
        with progress_bar(f"{dataset}: encoding", None) as advance:
            epochs = [0]

            def trained(step: int, total: int, info: dict[str, float]) -> None:
                epochs[0] = step
                if info and step % 10 == 0:
                    console.print(f"  epoch {step}: held-back recall {info['val_recall']:.3f}")

            metrics = evaluate_alignment(dataset, method, right_encoder=right_encoder, train_size=train_size,
                                         test_size=test_size, seed=seed, params=params, plot=plot,
                                         progress=advance, train_progress=trained)
        if plot:
            console.print(f"plot written to [green]{plot}[/green]")
        if as_json:
            print(json.dumps(metrics))
        else:
            out.print(metrics_table(f"{dataset}, {method}: held-out pairs, left = text", metrics))

    run_safely(body)


@evaluate_app.command("recommend")
def evaluate_recommend_command(
    dataset: str = typer.Option("movielens-100k", "--dataset", help=f"one of {RECOMMEND_DATASETS}"),
    method: list[str] = typer.Option(None, "--method",
                                     help="popular, itemknn, content, als (or behaviour), ease, hybrid"),
    content_encoder: str = typer.Option("tfidf", "--content-encoder", help="text encoder for titles + genres"),
    weights: str = typer.Option(None, "--weights", help="hybrid weights (default ease=1,behaviour=0.5,text=0.05)"),
    seed: int = typer.Option(0, "--seed"),
    validation: bool = typer.Option(False, "--validation", help="score on a split of the training part"),
    interactions: Path = typer.Option(None, "--interactions", help="your own interactions (user, item, optional "
                                                                   "rating/weight, timestamp) instead of --dataset"),
    items: Path = typer.Option(None, "--items", help="with --interactions: item records (id + --item-text) for "
                                                     "the content and hybrid methods"),
    item_text: str = typer.Option("text", "--item-text", help="text field of --items"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object keyed by method"),
) -> None:
    """Top-10 recommendation on real ratings (seeded 80/20 split per user), methods side by side."""
    from jointspace.evaluate.recommend_eval import METHODS, evaluate_recommend
    from jointspace.tasks.recommend import parse_weights

    def body() -> None:
        if interactions is not None:
            from jointspace.evaluate.own_data import interactions_data

            data = interactions_data(interactions, items, item_text)
            dataset_name = data.name
        else:
            if dataset not in RECOMMEND_DATASETS:
                fail(f"unknown dataset {dataset!r}; use one of {RECOMMEND_DATASETS}")
            from jointspace.evaluate.movielens_data import movielens_100k

            data = movielens_100k()
            dataset_name = dataset
        with progress_bar(f"{dataset_name}: embedding items ({content_encoder})", len(data.items)) as advance:
            results, protocol = evaluate_recommend(data, methods=method or METHODS, content_encoder=content_encoder,
                                                   weights=parse_weights(weights), seed=seed, validation=validation,
                                                   progress=advance)
        if as_json:
            print(json.dumps(results))
            return
        console.print(json.dumps(protocol))
        metrics = list(next(iter(results.values())))
        table = Table(title=f"{dataset_name} top-10 recommendation")
        table.add_column("method")
        for m in metrics:
            table.add_column(m, justify="right")
        for name, values in results.items():
            table.add_row(name, *(f"{values[m]:.4f}" for m in metrics))
        out.print(table)

    run_safely(body)


@evaluate_app.command("doc-similarity")
def doc_similarity(
    pairs: Path = typer.Option(None, "--pairs", help="your own pairs: records with text1, text2 and score "
                                                     "(default: the Lee et al. 2005 news-paragraph set)"),
    background: Path = typer.Option(None, "--background", help="with --pairs: texts to fit trainable encoders on "
                                                               "(.txt one per line, or records with --text)"),
    text1: str = typer.Option("text1", "--text1"), text2: str = typer.Option("text2", "--text2"),
    score: str = typer.Option("score", "--score"), text: str = typer.Option("text", "--text"),
    encoder: list[str] = typer.Option(None, "--encoder", help="encoder spec NAME[:key=value,...], repeatable "
                                                              "(default: tfidf, lsa, lsa:singular_power=2, minilm)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list, one object per encoder"),
) -> None:
    """Pearson r and Spearman rho between human similarity scores of document pairs and each encoder's cosine."""
    from jointspace.evaluate.doc_similarity import DEFAULT_SPECS, lee_pairs, load_pairs, score_pairs

    def body() -> None:
        data = (load_pairs(pairs, text1, text2, score, background, text) if pairs is not None else lee_pairs())
        specs = list(encoder or DEFAULT_SPECS)
        with console.status(f"{data.name}: {len(data.scores)} pairs, {len(specs)} encoder(s)"):
            rows = score_pairs(data, specs)
        if as_json:
            print(json.dumps(rows))
            return
        table = Table(title=f"{data.name}: {len(data.scores)} pairs, {len(data.background)} background texts")
        for col in ("encoder", "pearson", "spearman", "seconds"):
            table.add_column(col, justify="left" if col == "encoder" else "right")
        for row in rows:
            table.add_row(row["encoder"], f"{row['pearson']:.4f}", f"{row['spearman']:.4f}", str(row["seconds"]))
        out.print(table)

    run_safely(body)


@evaluate_app.command("classify")
def evaluate_classify(
    data: Path = typer.Argument(..., help="your labelled records (.jsonl, .csv, .tsv, .parquet)"),
    text: str = typer.Option("text", "--text"), label: str = typer.Option("label", "--label"),
    meta: list[str] = typer.Option(None, "--meta", help="metadata field (repeat); name:num or name:cat"),
    encoder: str = typer.Option("tfidf", "--encoder", help="encoder name (default tfidf: fast on any machine)"),
    param: list[str] = typer.Option(None, "--param", "-p", help=PARAM_HELP),
    model: str = typer.Option("logreg", "--model", help="logreg, svm or mlp"),
    folds: int = typer.Option(5, "--folds"), tune: bool = typer.Option(False, "--tune"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Stratified k-fold figures of a classifier on your file (as `classify evaluate`), with the TF-IDF +
    LinearSVC baseline on the same folds."""
    from jointspace.cli.classify_commands import _config, _print_cv, _print_tuning, classify_report

    def body() -> None:
        config = _config(text, label, meta, encoder, param, model, folds, seed, None, None, None, tune)
        report = classify_report(data, config)
        report["tfidf_linearsvc"] = _svc_baseline(data, text, label, folds, seed)
        if as_json:
            print(json.dumps(report, default=str))
            return
        _print_cv(f"{folds}-fold cross-validation: {encoder} + {model}", report["mean"], report["threshold"])
        _print_tuning(report.get("tuning"))
        base = report["tfidf_linearsvc"]
        console.print(f"baseline TF-IDF (1-2 grams) + LinearSVC on the same folds: accuracy {base['accuracy']:.4f}, "
                      f"macro F1 {base['macro_f1']:.4f}")

    run_safely(body)


def _svc_baseline(data: Path, text: str, label: str, folds: int, seed: int) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from jointspace.tasks.classify import labelled_rows, load_frame, normalise_labels
    from jointspace.tasks.nearest import linear_svc_baseline

    frame, _ = load_frame(data)
    rows, labels, _ = labelled_rows(frame, text, label)
    texts, y = [str(t) for t in rows[text]], np.array([str(v) for v in normalise_labels(labels)])
    pred = np.empty(len(y), dtype=object)
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y):
        pred[te] = linear_svc_baseline([texts[i] for i in tr], list(y[tr]), [texts[i] for i in te])
    return {"accuracy": round(float(np.mean(pred == y)), 4),
            "macro_f1": round(float(f1_score(y, pred.astype(str), average="macro")), 4)}


@evaluate_app.command("nearest")
def evaluate_nearest_command(
    data: Path = typer.Argument(..., help="your labelled example records"),
    outliers: Path = typer.Option(None, "--outliers", help="out-of-scope messages (records with --text): half "
                                                           "calibrate `unknown`, half measure its rejection"),
    text: str = typer.Option("text", "--text"), label: str = typer.Option("label", "--label"),
    encoder: str = typer.Option("minilm", "--encoder"),
    param: list[str] = typer.Option(None, "--param", "-p", help=PARAM_HELP),
    space: str = typer.Option("supervised", "--space", help="supervised, plain, nca or fusion"),
    k: int = typer.Option(None, "-k", "--k", min=1, help="default: chosen by cross-validation in each fold"),
    vote: str = typer.Option(None, "--vote", help="similarity, uniform or softmax (default: chosen)"),
    accept_rate: float = typer.Option(None, "--accept-rate", help="calibrate `unknown` to keep this share"),
    folds: int = typer.Option(5, "--folds"), seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Stratified k-fold figures of nearest-example labelling on your file: in-scope accuracy (and with
    --outliers, out-of-scope rejection, reported apart), beside TF-IDF + LinearSVC on the same folds."""
    from jointspace.tasks.classify import labelled_rows, load_frame
    from jointspace.tasks.nearest import evaluate_nearest

    def body() -> None:
        frame, _ = load_frame(data)
        rows, labels, _ = labelled_rows(frame, text, label)
        out_texts = None
        if outliers is not None:
            out_frame, _ = load_frame(outliers)
            if text not in out_frame.columns:
                fail(f"{outliers}: no field {text!r}")
            out_texts = [t for t in out_frame[text] if isinstance(t, str) and t.strip()]
        with console.status(f"{data.name}: {folds}-fold nearest ({space} space over {encoder})"):
            metrics = evaluate_nearest(list(rows[text]), labels, folds=folds, seed=seed, outliers=out_texts,
                                       encoder=encoder, encoder_params=parse_params(param), space=space, k=k,
                                       vote=vote, accept_rate=accept_rate)
        print_metrics(f"{data.name}: nearest known examples, {folds}-fold", metrics, as_json)

    run_safely(body)
