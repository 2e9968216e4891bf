"""Evaluation on the user's own files, with the same metrics as the built-in sets.

- retrieval: BEIR-style files, ``corpus.jsonl`` (``_id``, ``text``, optional ``title``), ``queries.jsonl``
  (``_id``, ``text``) and ``qrels`` (a .tsv with ``query-id``, ``corpus-id``, ``score``, header optional);
  the corpus is indexed in a real collection and every query searched, as ``jointspace search`` does.
  Metrics: recall@1, recall@10 (share of the relevant documents found), MRR@10 (first relevant) and
  nDCG@10 (graded by the qrels score).
- recommendation: an interactions file (``user``, ``item``, optional ``rating`` / ``weight`` and
  ``timestamp``) and optional item records (``id`` + a text field) for the content and hybrid methods.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jointspace.errors import JointspaceError


def _jsonl(path: str | Path, what: str) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JointspaceError(f"{path}: line {n} is not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise JointspaceError(f"{path}: line {n}: a {what} needs an '_id'")
            rows.append(row)
    if not rows:
        raise JointspaceError(f"{path}: no {what}s")
    return rows


def read_qrels(path: str | Path) -> dict[str, dict[str, float]]:
    """query id -> {document id: relevance > 0}; a header line (``query-id``) is skipped."""
    qrels: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (n == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid")):
                continue
            if len(row) < 2:
                raise JointspaceError(f"{path}: line {n}: expected query-id <tab> corpus-id [<tab> score]")
            try:
                score = float(row[2]) if len(row) > 2 else 1.0
            except ValueError:
                raise JointspaceError(f"{path}: line {n}: score {row[2]!r} is not a number") from None
            if score > 0:
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = score
    if not qrels:
        raise JointspaceError(f"{path}: no relevance judgment with a score above 0")
    return qrels


def retrieval_scores(ranked: list[list[str]], relevant: list[dict[str, float]], k: int = 10) -> dict[str, float]:
    """recall@1, recall@k, MRR@k and nDCG@k (graded gains, 2^rel - 1) averaged over the queries."""
    r1, rk, mrr, ndcg = [], [], [], []
    for ids, rel in zip(ranked, relevant, strict=True):
        top = ids[:k]
        found = [d for d in top if d in rel]
        r1.append(float(bool(top) and top[0] in rel) / len(rel))
        rk.append(len(found) / len(rel))
        first = next((i for i, d in enumerate(top) if d in rel), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
        dcg = sum((2 ** rel[d] - 1) / np.log2(i + 2) for i, d in enumerate(top) if d in rel)
        ideal = sum((2 ** g - 1) / np.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:k]))
        ndcg.append(dcg / ideal if ideal > 0 else 0.0)
    return {"recall@1": float(np.mean(r1)), f"recall@{k}": float(np.mean(rk)), f"mrr@{k}": float(np.mean(mrr)),
            f"ndcg@{k}": float(np.mean(ndcg))}


def beir_retrieval(corpus: str | Path, queries: str | Path, qrels: str | Path, encoder: str = "minilm",
                   params: dict[str, Any] | None = None, k: int = 10,
                   progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Index ``corpus`` with ``encoder`` (fitted on the corpus when it learns), search each judged query."""
    from jointspace.collection import Collection
    from jointspace.encoders import encoder as make_encoder
    from jointspace.encoders.robust import encode_robust

    docs = _jsonl(corpus, "document")
    asked = {str(q["_id"]): str(q.get("text", "")) for q in _jsonl(queries, "query")}
    judged = read_qrels(qrels)
    missing = sorted(set(judged) - set(asked))
    if missing:
        raise JointspaceError(f"{qrels}: query id(s) {', '.join(missing[:5])} are not in {queries}")
    texts = {str(d["_id"]): " ".join(str(d.get(f, "")) for f in ("title", "text") if d.get(f)).strip() for d in docs}
    unknown_docs = sorted({d for rel in judged.values() for d in rel} - set(texts))
    if unknown_docs:
        raise JointspaceError(f"{qrels}: document id(s) {', '.join(unknown_docs[:5])} are not in {corpus}")
    qids = sorted(judged)
    enc = make_encoder(encoder, **(params or {}))
    if enc.trainable:
        enc.fit([t for t in texts.values() if t])
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection.create(f"{tmp}/c", encoder=enc, fields=["text"])
        report = col.add(({"id": i, "text": t} for i, t in texts.items() if t), progress=progress)
        vectors, ok = encode_robust(col.encoder, [asked[q] or " " for q in qids])
        hits = col.search_batch([v for v in vectors], k=k)
        col.close()
    ranked = [[str(h.id) for h in hs] if good else [] for hs, good in zip(hits, ok, strict=True)]
    metrics: dict[str, Any] = retrieval_scores(ranked, [judged[q] for q in qids], k)
    metrics.update({"queries": len(qids), "documents": len(texts), "unindexed_documents": len(report.skipped),
                    "unembeddable_queries": int((~ok).sum())})
    return metrics


def interactions_data(path: str | Path, items: str | Path | None = None, text_field: str = "text",
                      name: str | None = None) -> Any:
    """A ``RatingsData`` from the user's interactions file (+ item records for content), for evaluate recommend."""
    from jointspace.evaluate.movielens_data import RatingsData
    from jointspace.tasks.classify import load_frame

    frame, _ = load_frame(path)
    for col in ("user", "item"):
        if col not in frame.columns:
            raise JointspaceError(f"{path}: no field {col!r} (fields: {', '.join(map(str, frame.columns))})")
    weight = next((c for c in ("rating", "weight") if c in frame.columns), None)
    ratings = pd.DataFrame({"user": frame["user"].astype(str), "item": frame["item"].astype(str),
                            "rating": pd.to_numeric(frame[weight], errors="coerce").fillna(1.0) if weight else 1.0,
                            "timestamp": pd.to_numeric(frame["timestamp"], errors="coerce").fillna(0.0)
                            if "timestamp" in frame.columns else 0.0})
    ratings = ratings[(ratings["user"].str.strip() != "") & (ratings["item"].str.strip() != "")]
    if ratings["user"].nunique() < 2 or ratings["item"].nunique() < 11:
        raise JointspaceError(f"{path}: top-10 evaluation needs at least 2 users and 11 items")
    ids = sorted(ratings["item"].unique())
    if items is not None:
        catalogue, _ = load_frame(items)
        if "id" not in catalogue.columns or text_field not in catalogue.columns:
            raise JointspaceError(f"{items}: item records need 'id' and {text_field!r}")
        texts = dict(zip(catalogue["id"].astype(str), catalogue[text_field].astype(str), strict=True))
    else:
        texts = {}
    item_frame = pd.DataFrame({"id": ids, "title": ids, "text": [texts.get(i) or f"item {i}" for i in ids]})
    return RatingsData(name or Path(path).stem, item_frame, ratings.reset_index(drop=True))
