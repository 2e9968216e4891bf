"""Benchmark: search over HTTP under concurrent load, against the same searches through the Python API.

    python bench/serve.py --items 2000 --encoder tfidf --clients 1 16 --requests 1000
    python bench/serve.py --items 1000 --encoder minilm --clients 1 16 --requests 600

A collection of real WordNet noun glosses is served by `jointspace serve` in its own process on
127.0.0.1; this process sends a bounded number of text searches (other synsets' glosses) from
``--clients`` concurrent connections (asyncio + httpx), and reports throughput, p50/p99 latency and
every error. The baseline is the same queries through ``Collection.search`` in one Python process
(no HTTP), so the ratio is what serving costs. The load stops after ``--requests`` or ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(path: Path, n_items: int, encoder: str) -> list[str]:
    """The collection (n_items synsets) and the query texts (glosses of other synsets)."""
    from jointspace import Collection
    from jointspace.evaluate.datasets import wordnet_sample

    synsets = wordnet_sample(n_items + 500, seed=3)
    col = Collection.create(path, encoder=encoder, fields=["text"])
    col.add({"id": s.id, "word": s.word, "text": s.definition, "pos": s.pos} for s in synsets[:n_items])
    col.close()
    return [s.definition for s in synsets[n_items:]]


def in_process(path: Path, queries: list[str], n: int, k: int) -> dict[str, float]:
    from jointspace import Collection

    col = Collection.open(path)
    col.search(queries[0], k=k)
    times = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        col.search(queries[i % len(queries)], k=k)
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - start
    col.close()
    return {"requests": n, "qps": n / wall, "p50_ms": 1000 * float(np.median(times)),
            "p99_ms": 1000 * float(np.percentile(times, 99))}


async def load(url: str, queries: list[str], clients: int, total: int, k: int, max_seconds: float) -> dict:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    next_i = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal next_i
            while next_i < total and time.perf_counter() < deadline:
                i, next_i = next_i, next_i + 1
                t = time.perf_counter()
                try:
                    response = await client.get("/search", params={"q": queries[i % len(queries)], "k": k})
                    ok = response.status_code == 200 and len(response.json()["hits"]) == k
                    statuses[str(response.status_code) if ok or response.status_code != 200 else "200-short"] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - start
    done = sum(statuses.values())
    return {"clients": clients, "requests": done, "errors": done - statuses["200"], "statuses": dict(statuses),
            "qps": done / wall, "p50_ms": 1000 * float(np.median(latencies)),
            "p99_ms": 1000 * float(np.percentile(latencies, 99)), "seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--encoder", default="tfidf")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP/torch threads per process, for this one and the server alike (0: library default); "
                             "on a busy 2-core machine 2 threads per encode made minilm queries ~15x slower")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:  # set before torch loads: it applies here and is inherited by the server process
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wordnet"
        queries = build(path, args.items, args.encoder)
        baseline = in_process(path, queries, min(args.requests, 1000), args.k)
        port = free_port()
        cmd = [sys.executable, "-c", "from jointspace.cli import app; app()", "serve", str(path), "--port", str(port),
               "--log-level", "warning"]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the server did not start: " + server.stderr.read().decode())  # type: ignore[union-attr]
            asyncio.run(load(url, queries, 4, 100, args.k, 30))  # warm-up
            runs = [asyncio.run(load(url, queries, c, args.requests, args.k, args.max_seconds)) for c in args.clients]
        finally:
            server.terminate()
            server.wait(10)

    result = {"items": args.items, "encoder": args.encoder, "k": args.k, "cpus": os.cpu_count(),
              "threads": args.threads, "in_process": baseline, "http": runs}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.items} WordNet glosses, encoder {args.encoder}, k={args.k}, {os.cpu_count()} CPUs, "
          f"{args.threads or 'default'} thread(s) per process")
    print("| path | clients | requests | errors | req/s | p50 ms | p99 ms | req/s vs in-process |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    b = baseline
    print(f"| Collection.search (no HTTP) | 1 | {b['requests']} | 0 | {b['qps']:.0f} | {b['p50_ms']:.1f} | "
          f"{b['p99_ms']:.1f} | 1.00 |")
    for r in runs:
        print(f"| HTTP GET /search | {r['clients']} | {r['requests']} | {r['errors']} | {r['qps']:.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['qps'] / b['qps']:.2f} |")


if __name__ == "__main__":
    main()
