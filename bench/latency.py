"""How long a text query and a text index take with the default encoder, against the peers the issue names.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python bench/latency.py --n 1000 --repeats 5

1. CLI: ``jointspace search DIR "query"`` wall time vs ``jointspace info DIR`` on the same 1,000-item
   collection (median of ``--repeats``, the two interleaved), each a fresh process as a user runs it.
   ``info`` loads the collection without embedding anything, so the ratio is what embedding a query
   adds (the issue's target: at most 2x).
2. In-process, in a fresh interpreter per backend: ``import jointspace``, ``Collection.open``, the first
   query (loads the model) and the median of 20 warm queries, for the default encoder and for a
   collection made with ``backend="torch"``.
3. Indexing throughput: ``Collection.add`` of the texts with the default encoder (encode + store) vs bare
   ``SentenceTransformer.encode`` of the same texts (the issue's target: >= 2x), interleaved rounds.

Texts are WordNet definitions (a seeded sample); the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import sentences  # noqa: E402

import jointspace  # noqa: E402
from jointspace.encoders.minilm import model_path  # noqa: E402
from jointspace.encoders.minilm_build import built_model  # noqa: E402

QUERY = "a small domesticated animal that catches mice"


def cli_command() -> list[str]:
    """The console script beside this interpreter (what a user runs), else the same entry point via -c."""
    script = Path(sys.executable).with_name("jointspace")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from jointspace.cli import app; app()"]


def timed_run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return took


IN_PROCESS = """
import json, statistics, sys, time
t0 = time.perf_counter()
import jointspace
t1 = time.perf_counter()
col = jointspace.Collection.open(sys.argv[1])
t2 = time.perf_counter()
col.search(sys.argv[2], k=10)
t3 = time.perf_counter()
warm = []
for i in range(20):
    s = time.perf_counter(); col.search(sys.argv[2] + " " + str(i), k=10); warm.append(time.perf_counter() - s)
heavy = sorted(m for m in ("torch", "sentence_transformers") if m in sys.modules)
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_query_s": t3 - t2,
                  "warm_query_ms": 1000 * statistics.median(warm), "heavy_modules": heavy}))
"""


def in_process(folder: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(folder), QUERY], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved indexing rounds")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    built_model("fused")  # the one-time build is not what is measured

    texts = sentences(args.n)
    records = [{"id": f"s{i}", "text": t} for i, t in enumerate(texts)]
    work = Path(tempfile.mkdtemp(prefix="jointspace-latency-"))
    load = [os.getloadavg()[0]]
    try:
        # 3. indexing throughput (first: it also makes the collections the other parts use)
        from sentence_transformers import SentenceTransformer

        bare = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
        bare.encode(texts[:64])
        jointspace.encoder("minilm").encode(texts[:64])  # both warm
        index_s, bare_s = [], []
        for r in range(args.rounds):
            start = time.perf_counter()
            col = jointspace.Collection.create(work / f"col{r}", encoder="minilm")
            col.add(records)
            col.close()
            index_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            bare.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
            bare_s.append(time.perf_counter() - start)
        folder = work / "col0"
        torch_folder = work / "col-torch"
        col = jointspace.Collection.create(torch_folder, encoder=jointspace.encoder("minilm", backend="torch"))
        col.add(records[:100])
        col.close()
        load.append(os.getloadavg()[0])

        # 1. CLI search vs info, interleaved
        cli = cli_command()
        search_s, info_s = [], []
        timed_run([*cli, "info", str(folder)], env)  # file cache warm for both
        for _ in range(args.repeats):
            info_s.append(timed_run([*cli, "info", str(folder)], env))
            search_s.append(timed_run([*cli, "search", str(folder), QUERY], env))
        load.append(os.getloadavg()[0])

        # 2. in-process first / warm query, default vs torch
        default_run = in_process(folder, env)
        torch_run = in_process(torch_folder, env)
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    info_med, search_med = statistics.median(info_s), statistics.median(search_s)
    result = {
        "n": args.n, "load": load,
        "cli": {"info_s": info_s, "search_s": search_s, "info_median_s": info_med, "search_median_s": search_med,
                "search_over_info": search_med / info_med},
        "in_process": {"default": default_run, "torch": torch_run},
        "indexing": {"collection_add_s": index_s, "bare_st_encode_s": bare_s,
                     "add_per_s": args.n * len(index_s) / sum(index_s),
                     "bare_per_s": args.n * len(bare_s) / sum(bare_s),
                     "ratio": sum(bare_s) / sum(index_s)},
    }
    print(f"{args.n} WordNet definitions; load average {' -> '.join(f'{x:.1f}' for x in load)}")
    print(f"CLI (median of {args.repeats}): search {search_med:.2f} s, info {info_med:.2f} s, "
          f"ratio {search_med / info_med:.2f} (target <= 2)")
    for name, run in (("default (onnx fused)", default_run), ("torch", torch_run)):
        print(f"in-process {name}: import {run['import_s']:.2f} s, open {run['open_s']:.2f} s, first query "
              f"{run['first_query_s']:.2f} s, warm query {run['warm_query_ms']:.1f} ms, "
              f"heavy modules {run['heavy_modules'] or 'none'}")
    ix = result["indexing"]
    print(f"indexing: Collection.add (default encoder) {ix['add_per_s']:.0f} texts/s vs bare "
          f"SentenceTransformer.encode {ix['bare_per_s']:.0f} texts/s, ratio {ix['ratio']:.2f} (target >= 2)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
