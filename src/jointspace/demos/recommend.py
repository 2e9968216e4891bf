"""The demo's "because you liked ..." part: MovieLens 100K, fetched from the registry into the cache."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.table import Table

from jointspace.collection import Collection
from jointspace.display import console, out
from jointspace.interactions import Interaction

PROFILES = {
    "a Star Wars fan": ["50"],
    "animated musicals": ["71", "95"],
    "thrillers": ["98", "185"],
}
# a film from after the data set was made: nobody has rated it, so only its description can place it
NEW_ITEM = {"id": "new-1", "title": "Star Wars: Episode I - The Phantom Menace", "year": 1999,
            "genres": "Action Adventure Fantasy Sci-Fi",
            "text": "Star Wars: Episode I - The Phantom Menace (1999). Genres: Action, Adventure, Fantasy, Sci-Fi"}


def _records(items: Any) -> Any:
    for r in items.itertuples():
        year = int(r.year) if str(r.year).isdigit() else None
        yield {"id": r.id, "title": r.title, "year": year, "genres": r.genres, "text": r.text}


def build_movielens(path: Path) -> Collection:
    """Movies (title, year, genres -> tfidf "text" field) plus a "behaviour" field from all 100k ratings."""
    if (path / "manifest.json").exists():
        col = Collection.open(path)
        if "behaviour" in col.vector_fields():
            console.print(f"[dim]reusing {path} ({len(col)} movies)[/dim]")
            return col
        col.close()
    from jointspace.evaluate.movielens_data import movielens_100k

    data = movielens_100k()
    start = time.perf_counter()
    col = Collection.create(path, encoder="tfidf", fields=["text"], overwrite=True)
    col.add(_records(data.items))
    ratings = data.ratings
    col.add_interactions(Interaction(u, i, float(r), float(t)) for u, i, r, t in
                         ratings[["user", "item", "rating", "timestamp"]].itertuples(index=False))
    console.print(f"indexed {len(col)} movies and {len(ratings)} ratings in {time.perf_counter() - start:.1f}s "
                  f"-> {path}")
    return col


def _show(col: Collection, title: str, recs: Any) -> None:
    table = Table(title=f"[bold]{title}[/bold]", title_justify="left")
    for name, just in (("#", "right"), ("movie", "left"), ("because you liked", "left"), ("mostly", "left")):
        table.add_column(name, justify=just)  # type: ignore[arg-type]
    for rank, r in enumerate(recs, start=1):
        liked = col.get(r.why["nearest_liked"])["title"]
        mostly = r.why["top_field"] + (" (no ratings yet)" if "behaviour" in r.why.get("missing_fields", []) else "")
        table.add_row(str(rank), f"{r.fields['title']} ({r.fields.get('year') or '?'})", liked, mostly)
    out.print(table)


def run_recommend_demo(workdir: Path) -> None:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out.rule("[bold]because you liked ...: MovieLens 100K (titles + genres, and 100k ratings)")
    col = build_movielens(workdir / "movielens")
    for who, liked in PROFILES.items():
        names = ", ".join(col.get(i)["title"] for i in liked)
        _show(col, f"{who}: liked {names}", col.recommend(liked=liked, k=5))
    _show(col, "the same Star Wars fan, diversified (MMR 0.5)", col.recommend(liked=["50"], k=5, diversify=0.5))
    col.upsert([NEW_ITEM])  # cold start: no interactions, recommended by its description alone
    _show(col, "after adding a film nobody has rated yet (weights text=1, behaviour=0.5)",
          col.recommend(liked=["50", "172"], k=8, weights={"text": 1.0, "behaviour": 0.5}))
    col.close()
    out.print(f"Try it yourself:  [bold].venv/bin/jointspace recommend {workdir / 'movielens'} --liked 1,71 "
              "--weights text=0.5,behaviour=1 --diversify 0.3[/bold]   (or --user 196)")
