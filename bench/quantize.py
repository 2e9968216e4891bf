"""Quantised search (issue 14): float32 exact vs int8 vs binary + exact rescoring.

    python bench/quantize.py --n 100000                  # real MiniLM vectors of 100,000 WordNet glosses
    python bench/quantize.py --n 100000 --tile 10        # the same tiled to 1,000,000 (see below)

Base vectors: MiniLM (torch backend) vectors of the first ``n`` WordNet glosses in bench/scale.py's seeded
order, encoded once into ~/.cache/jointspace/scale/. Queries: MiniLM vectors of ``--queries`` other glosses
(never in the base). Truth: exact float32 top-10 (a matrix product over every vector).

``--tile T`` makes ``T * n`` vectors: copy ``j`` of each real vector gets Gaussian noise of ``--noise`` per
component and is re-normalised. They are NOT independent real vectors: each real vector becomes a tight
cluster of T near-duplicates, which makes telling neighbours apart harder for the codes than real data would.

Per method: bytes a vector in memory (codes + learned ranges + alive mask; float32: the matrix), recall@10
against the truth, and single-query latency (queries one at a time, median and p90, ms). Rescoring reads
the candidates' float rows from a memory-mapped .npy (the vector cache's role). Peers side by side in
the same run: today's exact search (``jointspace.index.VectorIndex``, numpy) and FAISS ``IndexFlatIP``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# one thread everywhere (BLAS, FAISS's OpenMP): on a shared, loaded machine spinning thread pools make
# single-query latencies meaningless; every method gets the same single core
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import CACHE, glosses, vectors  # noqa: E402


def query_vectors(n: int, n_queries: int) -> np.ndarray:
    """MiniLM vectors of ``n_queries`` glosses that follow the base's ``n`` in the same order (cached)."""
    file = CACHE / f"minilm_wordnet_queries_{n}_{n_queries}.npy"
    if file.exists():
        return np.load(file)
    from jointspace.encoders.minilm import MiniLMEncoder

    _, texts, _ = glosses(n + n_queries)
    out = MiniLMEncoder().encode(texts[n:n + n_queries], batch_size=128).astype(np.float32)
    np.save(file, out)
    return out


def tiled(base: np.ndarray, times: int, noise: float, seed: int = 0) -> np.ndarray:
    if times <= 1:
        return base
    rng = np.random.default_rng(seed)
    out = np.empty((len(base) * times, base.shape[1]), dtype=np.float32)
    for j in range(times):
        part = base + (rng.standard_normal(base.shape).astype(np.float32) * noise if j else 0)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        out[j * len(base):(j + 1) * len(base)] = part
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def timed(fn, queries: np.ndarray) -> tuple[np.ndarray, float, float]:  # type: ignore[no-untyped-def]
    """Run ``fn(query)`` one query at a time: (positions per query, median ms, p90 ms)."""
    fn(queries[0])  # warm
    out, times = [], []
    for q in queries:
        start = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return np.vstack(out), float(np.median(ms)), float(np.percentile(ms, 90))


def run(n: int, tile: int, noise: float, n_queries: int, k: int, rescores: list[int]) -> dict:
    import faiss
    from jointspace.index import VectorIndex, top_k

    from jointspace.stores.embedded.quantize import BinaryCodes, Int8Codes

    faiss.omp_set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    real = vectors(n).astype(np.float32)
    base = tiled(real, tile, noise)
    queries = query_vectors(n, n_queries)
    total = len(base)
    print(f"{total} vectors of dim {base.shape[1]}, {len(queries)} queries", file=sys.stderr)
    rows: list[dict] = []
    # truth: exact float32, all queries at once
    truth = np.vstack([top_k(queries[i:i + 50] @ base.T, k)[1] for i in range(0, len(queries), 50)])

    flat = VectorIndex(base.shape[1])
    flat.add(base)
    found, p50, p90 = timed(lambda q: flat.search(q, k)[1][0], queries)
    rows.append({"method": "float32 exact (VectorIndex, numpy)", "bytes_per_vector": base.shape[1] * 4,
                 "recall@10": recall(found, truth), "p50_ms": p50, "p90_ms": p90})
    flat = VectorIndex(1)  # free the matrix
    ip = faiss.IndexFlatIP(base.shape[1])
    ip.add(base)
    found, p50, p90 = timed(lambda q: ip.search(q[None, :], k)[1][0], queries)
    rows.append({"method": "float32 exact (faiss IndexFlatIP)", "bytes_per_vector": base.shape[1] * 4,
                 "recall@10": recall(found, truth), "p50_ms": p50, "p90_ms": p90})
    ip.reset()

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "float.npy", base)
        mm = np.load(Path(tmp) / "float.npy", mmap_mode="r")  # rescoring reads rows from a memory map
        for name, codes in [("int8", Int8Codes()), ("binary", BinaryCodes())]:
            start = time.perf_counter()
            codes.fit(base)
            codes.add(base)
            build = time.perf_counter() - start
            per_vector = codes.nbytes / total
            for r in [0, *rescores]:
                found, p50, p90 = timed(
                    lambda q, c=codes, r=r: c.search(q, k, float_vectors=mm if r else None, rescore=r)[1][0],
                    queries)
                rows.append({"method": f"{name}" + (f" + rescore {r}x" if r else " (codes only)"),
                             "bytes_per_vector": round(per_vector, 2),
                             "code_bytes_per_vector": codes.code_size(), "recall@10": recall(found, truth),
                             "p50_ms": p50, "p90_ms": p90, "build_s": round(build, 2)})
            del codes
    return {"n": total, "real_vectors": n, "tile": tile, "noise": noise if tile > 1 else 0.0,
            "queries": len(queries), "k": k, "load_average": os.getloadavg(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--tile", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rescore", default="4,10,20", help="comma-separated rescore multiples of k")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(args.n, args.tile, args.noise, args.queries, args.k, [int(r) for r in args.rescore.split(",")])
    f32_bytes = result["rows"][0]["bytes_per_vector"]
    f32_ms = min(r["p50_ms"] for r in result["rows"][:2])  # the faster exact peer
    print(f"n={result['n']} (real {result['real_vectors']}, tile {result['tile']}), "
          f"load {tuple(round(x, 2) for x in result['load_average'])}")
    print(f"{'method':36} {'B/vec':>7} {'x less':>6} {'code B':>6} {'recall@10':>9} {'p50 ms':>8} {'p90 ms':>8}"
          f" {'speed vs best f32':>17}")
    for row in result["rows"]:
        code = row.get("code_bytes_per_vector", row["bytes_per_vector"])
        print(f"{row['method']:36} {row['bytes_per_vector']:7.1f} {f32_bytes / row['bytes_per_vector']:6.1f}"
              f" {code:6d} {row['recall@10']:9.4f} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f}"
              f" {f32_ms / row['p50_ms']:16.1f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
