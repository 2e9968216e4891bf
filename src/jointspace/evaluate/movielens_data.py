"""MovieLens 100K, read out of the recbole==1.2.1 wheel into the cache (GroupLens terms: never committed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jointspace.cache import pypi_file

PACKAGE, VERSION = "recbole", "1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"
SHA256 = {
    "inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}


@dataclass
class RatingsData:
    """Items (id, title, year, genres, text) and interactions (user, item, rating, timestamp); ids as text."""

    name: str
    items: pd.DataFrame
    ratings: pd.DataFrame


def movielens_file(kind: str) -> Path:
    return pypi_file(PACKAGE, VERSION, MEMBER.format(kind), sha=SHA256.get(kind))


def movielens_100k() -> RatingsData:
    items = pd.read_csv(movielens_file("item"), sep="\t", encoding="latin-1", dtype=str, keep_default_na=False)
    items.columns = ["id", "title", "year", "genres"]
    items["text"] = items["title"] + " (" + items["year"] + "). Genres: " + items["genres"].str.replace(" ", ", ")
    ratings = pd.read_csv(movielens_file("inter"), sep="\t")
    ratings.columns = ["user", "item", "rating", "timestamp"]
    ratings["user"] = ratings["user"].astype(str)
    ratings["item"] = ratings["item"].astype(str)
    return RatingsData("movielens-100k", items, ratings)
