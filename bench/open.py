"""Instant open (issue 14): a fresh process's first search, via the memory-mapped vector cache vs today.

    python bench/open.py --n 100000                 # real MiniLM vectors of 100,000 WordNet glosses
    python bench/open.py --n 100000 --tile 10       # 1,000,000: the same tiled with noise (bench/quantize.py)

One embedded collection is built with today's code (``Collection.upsert_vectors``) and the vector cache
(``stores/embedded/vector_cache.py``) is derived from its table. Then each path runs in a new Python process
(imports done before the clock starts), timing open + the first search of one query vector, then the
median of 20 warm searches:

* ``today``: ``Collection.open`` + ``search``: reads every vector BLOB out of SQLite into a new matrix;
* ``mmap``: read the table's generation, ``vector_cache.open`` (checked against it), exact top-10 over the
  memory map, the hits' ids and fields from SQLite.

``page cache warm``: the files were just written, so their pages are in the OS page cache (a process
restart). ``cold``: both files' pages are evicted first (``posix_fadvise(DONTNEED)`` on these files only),
so the first search reads from the disk (a machine restart). Target: first <= 5x warm.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

CACHE_FILE = "vectors.cache"
WARM_REPEATS = 20


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (only this file's)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def build(work: Path, n: int, tile: int, noise: float) -> tuple[Path, Path, dict]:
    from quantize import query_vectors, tiled
    from scale import glosses, vectors

    from jointspace import Collection
    from jointspace.stores.embedded import vector_cache

    base = tiled(vectors(n).astype(np.float32), tile, noise)
    ids, texts, _ = glosses(n)
    all_ids = [f"{i}#{j}" if j else i for j in range(tile) for i in ids]
    fields = [{"text": t} for _ in range(tile) for t in texts]
    qfile = work / "queries.npy"
    np.save(qfile, query_vectors(n, 50))
    col = Collection.create(work / "col", encoder="minilm", overwrite=True)
    start = time.perf_counter()
    col.upsert_vectors(all_ids, fields, base)
    insert_s = time.perf_counter() - start
    col.close()
    del base, fields
    import sqlite3

    start = time.perf_counter()
    db = sqlite3.connect(work / "col" / "items.sqlite")
    generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    rows = db.execute("SELECT rowid, vector FROM items ORDER BY rowid").fetchall()
    rowids = np.array([r[0] for r in rows], dtype=np.int64)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    del rows
    vector_cache.write(work / "col" / CACHE_FILE, generation, rowids, matrix)
    derive_s = time.perf_counter() - start
    db.close()
    sizes = {"sqlite_mb": round((work / "col" / "items.sqlite").stat().st_size / 2**20),
             "cache_mb": round((work / "col" / CACHE_FILE).stat().st_size / 2**20)}
    return work / "col", qfile, {"insert_s": round(insert_s, 1), "derive_cache_s": round(derive_s, 2), **sizes}


def child(mode: str, path: Path, qfile: Path) -> dict:
    """Runs in a fresh process: open + first search, then warm searches."""
    import sqlite3

    from jointspace import Collection
    from jointspace.ranking import top_k
    from jointspace.stores.embedded import vector_cache

    queries = np.load(qfile)
    if mode == "today":
        start = time.perf_counter()
        col = Collection.open(path)
        first = col.search(queries[0], k=10)
        first_s = time.perf_counter() - start

        def search(q: np.ndarray) -> list:
            return col.search(q, k=10)
    else:
        start = time.perf_counter()
        db = sqlite3.connect(path / "items.sqlite")
        generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        opened = vector_cache.open(path / CACHE_FILE, generation, dim=queries.shape[1])
        if opened is None:
            raise SystemExit("the vector cache does not match the table")
        rowids, matrix = opened

        def search(q: np.ndarray) -> list:
            scores, pos = top_k((matrix @ q)[None, :], 10)
            wanted = [int(rowids[p]) for p in pos[0]]
            marks = ",".join("?" * len(wanted))
            found = dict(db.execute(f"SELECT rowid, id || fields FROM items WHERE rowid IN ({marks})",
                                    wanted).fetchall())
            return [(found[r], float(s)) for r, s in zip(wanted, scores[0], strict=True)]

        first = search(queries[0])
        first_s = time.perf_counter() - start
    assert len(first) == 10
    warm = []
    for q in queries[1:1 + WARM_REPEATS]:
        t = time.perf_counter()
        search(q)
        warm.append(time.perf_counter() - t)
    return {"mode": mode, "first_ms": first_s * 1000, "warm_ms": float(np.median(warm)) * 1000}


def measure(path: Path, qfile: Path, mode: str, cold: bool) -> dict:
    if cold:
        for f in path.iterdir():
            if f.is_file():
                evict(f)
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(qfile)], check=True,
                         capture_output=True, text=True, env={**os.environ})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["page_cache"] = "cold" if cold else "warm"
    result["first_over_warm"] = result["first_ms"] / result["warm_ms"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--tile", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--work", type=Path, help="where to build the collection (default: a temporary folder)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, qfile = args.child
        print(json.dumps(child(mode, Path(path), Path(qfile))))
        return
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        path, qfile, built = build(Path(tmp), args.n, args.tile, args.noise)
        rows = [measure(path, qfile, mode, cold) for cold in (False, True) for mode in ("today", "mmap")]
    result = {"n": args.n * args.tile, "real_vectors": args.n, "tile": args.tile, **built,
              "load_average": [round(x, 2) for x in os.getloadavg()], "rows": rows}
    print(f"n={result['n']} (real {args.n}, tile {args.tile}); built {built}; load {result['load_average']}")
    print(f"{'path':8} {'page cache':>10} {'first ms':>10} {'warm ms':>9} {'first/warm':>10}")
    for r in rows:
        print(f"{r['mode']:8} {r['page_cache']:>10} {r['first_ms']:10.1f} {r['warm_ms']:9.2f} "
              f"{r['first_over_warm']:10.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
