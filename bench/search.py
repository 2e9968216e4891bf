"""Benchmark: exact search and indexing throughput, each as a ratio to its bare baseline in the same run.

    python bench/search.py --n 100000 --queries 300          # search part
    python bench/search.py --index-texts 3000                 # indexing part (minilm)

Search: a collection of n x 384 unit vectors; single queries and batches through
(a) a plain numpy mat-vec + argpartition top-k (the baseline), (b) jointspace's VectorIndex.search,
(c) Collection.search with a vector query (index + fetching the hits' fields from SQLite),
(d) FAISS IndexFlatIP. Runs are interleaved query by query, so machine noise hits all alike.
Indexing: the same WordNet definitions through bare SentenceTransformer.encode and through
Collection.add (the path `jointspace index` takes), alternated, best of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def numpy_topk(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ matrix.T if len(queries) > 1 else (matrix @ queries[0])[None, :]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def bench_search(n: int, n_queries: int, k: int, dim: int = 384) -> dict:
    import faiss

    from jointspace import Collection
    from jointspace.stores.embedded.index import VectorIndex

    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(n, dim)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    queries = matrix[rng.choice(n, n_queries, replace=False)] + 0.1 * rng.normal(size=(n_queries, dim)).astype(
        np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    index = VectorIndex(dim)
    index.add(matrix)
    flat = faiss.IndexFlatIP(dim)
    flat.add(matrix)
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection.create(Path(tmp) / "c", encoder="minilm", fields=["text"])
        start = time.perf_counter()
        col.add(({"id": str(i), "n": i} for i in range(n)), vectors=matrix, batch_size=10_000)
        add_s = time.perf_counter() - start
        col.search(queries[0], k=k)  # load the index once
        runners = {
            "numpy mat-vec + top-k (baseline)": lambda q: numpy_topk(matrix, q[None, :], k),
            "jointspace VectorIndex.search": lambda q: index.search(q[None, :], k),
            "jointspace Collection.search (+ fields)": lambda q: col.search(q, k=k),
            "faiss IndexFlatIP": lambda q: flat.search(q[None, :], k),
        }
        times: dict[str, list[float]] = {name: [] for name in runners}
        # check all agree on the top hit before timing
        top = numpy_topk(matrix, queries[:5], k)[:, 0]
        assert [int(h[0].id) for h in col.search_batch(list(queries[:5]), k=k)] == list(top)
        for q in queries:
            for name, run in runners.items():
                t = time.perf_counter()
                run(q)
                times[name].append(time.perf_counter() - t)
        single = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}

        batch = queries[:100]
        batch_runners = {
            "numpy mat-mul + top-k (baseline)": lambda: numpy_topk(matrix, batch, k),
            "jointspace VectorIndex.search": lambda: index.search(batch, k),
            "jointspace Collection.search_batch (+ fields)": lambda: col.search_batch(list(batch), k=k),
            "faiss IndexFlatIP": lambda: flat.search(batch, k),
        }
        btimes: dict[str, list[float]] = {name: [] for name in batch_runners}
        for _ in range(7):
            for name, run in batch_runners.items():
                t = time.perf_counter()
                run()
                btimes[name].append(time.perf_counter() - t)
        batched = {name: statistics.median(ts) * 1e3 for name, ts in btimes.items()}
        col.close()
    base_single = single["numpy mat-vec + top-k (baseline)"]
    base_batch = batched["numpy mat-mul + top-k (baseline)"]
    return {
        "n": n, "dim": dim, "k": k, "queries": n_queries, "add_seconds": add_s,
        "single_ms": single, "single_speed_vs_numpy": {m: base_single / v for m, v in single.items()},
        "batch100_ms": batched, "batch_speed_vs_numpy": {m: base_batch / v for m, v in batched.items()},
    }


def bench_index(n_texts: int, repeats: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from jointspace import Collection
    from jointspace.encoders.minilm import model_path
    from jointspace.evaluate.datasets import wordnet_sample

    texts = [s.definition for s in wordnet_sample(n_texts, seed=3)]
    model = SentenceTransformer(model_path(), device="cpu")
    model.encode(texts[:64])
    bare, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "texts.jsonl"
        data.write_text("\n".join(json.dumps({"id": str(i), "text": t}) for i, t in enumerate(texts)) + "\n")
        for r in range(repeats):
            t = time.perf_counter()
            model.encode(texts, batch_size=64, normalize_embeddings=True)
            bare.append(time.perf_counter() - t)
            col = Collection.create(Path(tmp) / f"c{r}", encoder="minilm", fields=["text"])
            t = time.perf_counter()
            col.add({"id": str(i), "text": x} for i, x in enumerate(texts))
            ours.append(time.perf_counter() - t)
            col.close()
        # the CLI end to end, once, for the record (includes interpreter start and model load)
        exe = str(Path(sys.executable).parent / "jointspace")
        t = time.perf_counter()
        subprocess.run([exe, "index", str(data), "--out", str(Path(tmp) / "cli")], check=True,
                       capture_output=True)
        cli_s = time.perf_counter() - t
    return {
        "texts": n_texts, "bare_encode_s": min(bare), "collection_add_s": min(ours),
        "throughput_ratio": min(bare) / min(ours),
        "bare_texts_per_s": n_texts / min(bare), "add_texts_per_s": n_texts / min(ours),
        "cli_end_to_end_s": cli_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--index-texts", type=int, default=0, help="also run the indexing part on this many texts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    results: dict = {}
    if not args.skip_search:
        results["search"] = bench_search(args.n, args.queries, args.k)
    if args.index_texts:
        results["index"] = bench_index(args.index_texts, args.repeats)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
