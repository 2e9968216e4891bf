"""Instant open through the facade: a new process's ``Collection.open`` + first search vs a warm search.

    python bench/first_search.py 100000 /tmp/first-100k      # builds the collection there once, then measures
    python bench/first_search.py 1000000 /tmp/first-1m

Random float32 unit vectors (384-d) with one field; each child process imports jointspace and the store and
encoder modules before the clock starts (import time is the encoder's business, see bench/latency.py), then
times ``Collection.open`` + one exact k=10 search, and the median of 20 warm searches; median of 3 processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CHILD = r"""
import sys, time
import numpy as np
from jointspace import Collection
import jointspace.encoders.tfidf, jointspace.stores.embedded.store  # imports before the clock
q = np.random.default_rng(1).normal(size=384).astype(np.float32)
t0 = time.perf_counter()
col = Collection.open(sys.argv[1])
col.search(q, k=10)
first = time.perf_counter() - t0
warm = []
for _ in range(20):
    t = time.perf_counter()
    col.search(q, k=10)
    warm.append(time.perf_counter() - t)
print(f"{first * 1000:.1f} {np.median(warm) * 1000:.2f}")
"""


def build(n: int, path: Path) -> None:
    from jointspace import Collection

    rng = np.random.default_rng(0)
    col = Collection.create(path, encoder="tfidf", dim=384)
    for start in range(0, n, 50_000):
        end = min(start + 50_000, n)
        col.upsert_vectors([f"i{i}" for i in range(start, end)], [{"year": 1900 + i % 120} for i in range(start, end)],
                           rng.normal(size=(end - start, 384)).astype(np.float32))
    col.search(rng.normal(size=384).astype(np.float32), k=10)
    col.close()  # writes the vector cache for the next process


def main() -> None:
    n, root = int(sys.argv[1]), Path(sys.argv[2])
    path = root / "c"
    if not (path / "manifest.json").exists():
        build(n, path)
    runs = [subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            .stdout.split() for _ in range(3)]
    first = sorted(float(r[0]) for r in runs)[1]
    warm = sorted(float(r[1]) for r in runs)[1]
    print(json.dumps({"n": n, "load_average": os.getloadavg()[0], "first_open_plus_search_ms": first,
                      "warm_search_ms": warm, "ratio": round(first / warm, 1)}))


if __name__ == "__main__":
    main()
