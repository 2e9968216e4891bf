"""The demo: a reverse dictionary over WordNet 3.0 glosses, then its measured quality."""

from __future__ import annotations

import random
import time
from pathlib import Path

from rich.table import Table

from jointspace.collection import Collection
from jointspace.display import console, out, progress_bar
from jointspace.evaluate.classic_tasks import wordnet_gloss
from jointspace.evaluate.datasets import wordnet_synsets

QUERIES = {
    "a large wild cat with black stripes": "tiger",
    "an instrument that shows the time of day": "clock",
    "a building where books are kept for people to borrow": "library",
    "the feeling of being very happy": "happiness",
    "a small boat pushed along with a paddle": "canoe",
    "to cook something in hot fat or oil": "fry",
}


def build_reverse_dictionary(path: Path, size: int, seed: int = 0) -> Collection:
    """A collection of ``size`` synsets (the demo's answer words always among them), built once."""
    if (path / "manifest.json").exists():
        col = Collection.open(path)
        if len(col) >= size:
            console.print(f"[dim]reusing {path} ({len(col)} synsets)[/dim]")
            return col
        col.close()
    synsets = wordnet_synsets()
    wanted = set(QUERIES.values())
    chosen = [s for s in synsets if s.word in wanted]
    rest = [s for s in synsets if s.word not in wanted]
    random.Random(seed).shuffle(rest)
    chosen += rest[: max(0, size - len(chosen))]
    col = Collection.create(path, encoder="minilm", fields=["definition"], overwrite=True)
    records = ({"id": s.id, "word": s.word, "definition": s.definition, "pos": s.pos,
                "synonyms": ", ".join(s.lemmas[1:])} for s in chosen)
    start = time.perf_counter()
    with progress_bar("embedding WordNet glosses (minilm)", len(chosen)) as advance:
        report = col.add(records, progress=advance)
    console.print(f"indexed {report.added} synsets in {time.perf_counter() - start:.1f}s -> {path}")
    return col


def run_demo(workdir: Path, size: int = 20_000, eval_size: int = 2000) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    out.rule("[bold]jointspace demo: a reverse dictionary over WordNet 3.0")
    col = build_reverse_dictionary(workdir / "wordnet", size)
    for query in QUERIES:
        hits = col.search(query, k=5)
        table = Table(title=f"[bold]\"{query}\"[/bold]", title_justify="left")
        for name, just in (("#", "right"), ("score", "right"), ("word", "left"), ("definition", "left")):
            table.add_column(name, justify=just)  # type: ignore[arg-type]
        for rank, hit in enumerate(hits, start=1):
            table.add_row(str(rank), f"{hit.score:.3f}", f"[bold]{hit.fields['word']}[/bold]",
                          hit.fields["definition"][:90])
        out.print(table)
    col.close()

    out.rule(f"[bold]gloss -> word retrieval over {eval_size} WordNet nouns (query: the definition)")
    table = Table()
    for name in ("encoder", "recall@1", "recall@10", "MRR", "seconds"):
        table.add_column(name, justify="right" if name != "encoder" else "left")
    for name in ("tfidf", "minilm"):
        start = time.perf_counter()
        with progress_bar(f"evaluating {name}", eval_size) as advance:
            m = wordnet_gloss(name, n=eval_size, progress=advance)
        table.add_row(name, f"{m['recall@1']:.3f}", f"{m['recall@10']:.3f}", f"{m['mrr']:.3f}",
                      f"{time.perf_counter() - start:.1f}")
    out.print(table)
    out.print("Try it yourself:  [bold].venv/bin/jointspace search demo-data/wordnet \"a bird that cannot fly\"")

    from jointspace.demos.recommend import run_recommend_demo

    run_recommend_demo(workdir)

    from jointspace.demos.media import run_media_demo

    run_media_demo(workdir)
