"""Scale-out benchmarks (issue 9): Ray embedding jobs vs the plain index, pgvector HNSW vs embedded FAISS.

    python bench/scale.py vectors --n 20000          # MiniLM vectors of WordNet glosses, cached
    python bench/scale.py search --n 20000           # pgvector HNSW vs embedded FAISS HNSW: latency, recall@10
    python bench/scale.py ray --n 1000               # Ray Data, 1 and 2 workers, vs single-process (as root:
                                                     # it re-runs itself in a private network namespace)

Run from the repository root with ``PYTHONPATH=src HF_HUB_OFFLINE=1`` and the project's venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("JOINTSPACE_CACHE", Path.home() / ".cache" / "jointspace")) / "scale"


def glosses(n: int) -> tuple[list[str], list[str], list[str]]:
    """ids, definitions and head words of the first ``n`` WordNet synsets in a seeded order."""
    import random

    from jointspace.evaluate.datasets import wordnet_synsets

    synsets = wordnet_synsets()
    random.Random(0).shuffle(synsets)
    synsets = synsets[:n]
    return [s.id for s in synsets], [s.definition for s in synsets], [s.word.replace("_", " ") for s in synsets]


def vectors(n: int) -> np.ndarray:
    """MiniLM vectors of ``n`` glosses, from the cache when made before (chunks, so a stop loses little)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    final = CACHE / f"minilm_wordnet_{n}.npy"
    if final.exists():
        return np.load(final)
    from jointspace.encoders.minilm import MiniLMEncoder

    _, texts, _ = glosses(n)
    enc = MiniLMEncoder()
    parts = []
    step = 2000
    for start in range(0, n, step):
        part_file = CACHE / f"minilm_wordnet_part_{start}_{min(start + step, n)}.npy"
        if not part_file.exists():
            np.save(part_file.with_suffix(".tmp.npy"), enc.encode(texts[start:start + step], batch_size=128))
            part_file.with_suffix(".tmp.npy").replace(part_file)
        parts.append(np.load(part_file))
        print(f"encoded {min(start + step, n)}/{n}", file=sys.stderr, flush=True)
    out = np.concatenate(parts)
    np.save(final, out)
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_search(n: int, n_queries: int, m: int, ef_construction: int, ef_search: int) -> dict:
    """Both stores hold the same vectors with the same HNSW settings; queries are vectors (no encoding)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _pgserver import postgres_server

    from jointspace import Collection
    from jointspace.encoders.minilm import MiniLMEncoder
    from jointspace.ranking import top_k

    vecs = vectors(n)
    ids, _, words = glosses(n)
    fields = [{"word": w, "tag": i % 10} for i, w in enumerate(words)]
    rng = np.random.default_rng(0)
    picks = rng.choice(n, n_queries, replace=False)
    queries = MiniLMEncoder().encode([words[i] for i in picks])  # reverse-dictionary queries: a word
    _, exact = top_k(queries @ vecs.T, 10)
    truth = [set(np.array(ids)[row]) for row in exact]
    params = {"kind": "hnsw", "m": m, "ef_construction": ef_construction, "ef_search": ef_search}
    results: dict = {"n": n, "queries": n_queries, "hnsw": params}

    def measure(col: object, name: str) -> None:
        for q in queries[:20]:  # warm caches
            col.search(q, k=10)
        times, found = [], 0
        for q, want in zip(queries, truth, strict=True):
            t = time.perf_counter()
            hits = col.search(q, k=10)
            times.append(time.perf_counter() - t)
            found += len(want & {h.id for h in hits})
        p50, p99 = percentiles(times)
        ftimes = []
        for q in queries[:100]:
            t = time.perf_counter()
            col.search(q, k=10, where={"tag": 3})
            ftimes.append(time.perf_counter() - t)
        fp50, fp99 = percentiles(ftimes)
        results[name].update(p50_ms=round(p50, 3), p99_ms=round(p99, 3),
                             recall_at_10=round(found / (10 * len(truth)), 4),
                             filtered_p50_ms=round(fp50, 3), filtered_p99_ms=round(fp99, 3))
        print(name, results[name], file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="jsbench-"))
    try:
        for name, index in (("faiss_flat", "flat"), ("faiss_hnsw", params)):
            col = Collection.create(work / name, encoder="minilm", index=index)
            t = time.perf_counter()
            col.upsert_vectors(ids, fields, vecs)
            col.search(queries[0], k=10)  # builds the in-memory index
            results[name] = {"load_and_index_s": round(time.perf_counter() - t, 2)}
            measure(col, name)
            col.close()
        with postgres_server() as url:
            col = Collection.create(url + "&table=bench", encoder="minilm", index=params)
            t = time.perf_counter()
            col.upsert_vectors(ids, fields, vecs)  # COPY, then one HNSW build
            results["pgvector_hnsw"] = {"load_and_index_s": round(time.perf_counter() - t, 2)}
            measure(col, "pgvector_hnsw")
            col.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def bench_ray(n: int) -> dict:
    """Plain single-process index vs a Ray Data job on a local Ray with 1 and 2 encoder actors."""
    from jointspace import Collection
    from jointspace.distributed import index as ray_index
    from jointspace.distributed.job import connect_ray

    ids, texts, words = glosses(n)
    work = Path(tempfile.mkdtemp(prefix="jsray-"))
    data = work / "data.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": t, "word": w}) + "\n" for i, t, w in zip(ids, texts, words,
                                                                                                    strict=True)))
    out: dict = {"n": n, "cpus": os.cpu_count()}
    try:
        t = time.perf_counter()
        col = Collection.create(work / "plain", encoder="minilm")
        col.encoder.encode(["load the model"])
        out["plain_model_load_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        col.upsert([json.loads(line) for line in data.read_text().splitlines()])
        out["plain_index_s"] = round(time.perf_counter() - t, 2)
        col.close()
        t = time.perf_counter()
        connect_ray(None, 2)
        out["ray_init_s"] = round(time.perf_counter() - t, 2)
        tiny = work / "tiny.jsonl"
        tiny.write_text("".join(data.read_text().splitlines(keepends=True)[:16]))
        t = time.perf_counter()
        ray_index(tiny, work / "tiny_out", workers=1, shard_rows=16)
        out["ray_tiny_job_s"] = round(time.perf_counter() - t, 2)  # actor start + model load + 16 items
        for workers in (1, 2):
            result = ray_index(data, work / f"ray{workers}", workers=workers, shard_rows=250, batch_size=125)
            out[f"ray_{workers}_worker_s"] = round(result.seconds["embed"] + result.seconds["build"], 2)
            assert result.items == n
        out["ratio_plain_over_ray1"] = round(out["plain_index_s"] / out["ray_1_worker_s"], 3)
        out["ratio_plain_over_ray2"] = round(out["plain_index_s"] / out["ray_2_worker_s"], 3)
        out["ratio_ray1_over_ray2"] = round(out["ray_1_worker_s"] / out["ray_2_worker_s"], 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["vectors", "search", "ray"])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--ef-search", type=int, default=100)
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.what == "vectors":
        print(vectors(args.n).shape)
    elif args.what == "search":
        print(json.dumps(bench_search(args.n, args.queries, args.m, args.ef_construction, args.ef_search)))
    elif args.in_netns or os.geteuid() != 0:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        print(json.dumps(bench_ray(args.n)))
    else:  # Ray listens on and dials every address it finds: keep it in a namespace with only loopback
        cmd = f"ip link set lo up && exec {sys.executable} {' '.join(sys.argv)} --in-netns"
        sys.exit(subprocess.call(["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
                                  "bash", "-c", cmd]))


if __name__ == "__main__":
    main()
