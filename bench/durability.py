"""What the power-loss switch costs: committed writes per second with synchronous=NORMAL (the default, safe
against a killed process) and with ``durable=True`` (synchronous=FULL and directory fsyncs), side by side.

    python bench/durability.py --n 20000 --batch 100
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def run(n: int, batch: int, dim: int, durable: bool) -> float:
    from jointspace import Collection

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        col = Collection.create(f"{tmp}/c", encoder="tfidf", dim=dim, durable=durable)
        started = time.perf_counter()
        for start in range(0, n, batch):
            ids = [f"i{j}" for j in range(start, min(start + batch, n))]
            col.upsert_vectors(ids, [{"n": j} for j in range(len(ids))], vectors[start:start + len(ids)])
        took = time.perf_counter() - started
        col.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out = {}
    for durable in (False, True, False, True)[: 2 * args.repeats]:
        out.setdefault(durable, []).append(run(args.n, args.batch, args.dim, durable))
    normal, full = min(out[False]), min(out[True])
    print(json.dumps({"load_average": os.getloadavg()[0], "n": args.n, "batch": args.batch,
                      "normal_items_per_s": round(args.n / normal), "durable_items_per_s": round(args.n / full),
                      "durable_over_normal_time": round(full / normal, 2)}))


if __name__ == "__main__":
    main()
