"""A 2-node Ray cluster (head + worker) on loopback, a distributed index, a worker killed mid-job, re-runs.

Run by tests/test_distributed.py inside a private network namespace with only loopback up (Ray must
never listen on or dial the machine's other addresses) and a private PID namespace (every Ray process
dies with it). Prints one JSON line of facts for the test to check.

Every run of the job starts actors that load MiniLM, the slow part here, so the script does few runs:
the first (worker killed mid-way), then one re-run after damaging a finished shard.

    python tests/ray_cluster_job.py WORKDIR DATA.jsonl
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PORT = 6390


def ray_environment(work: Path) -> None:
    """Token auth with a fresh token, no usage stats; set before Ray is imported (it reads them once)."""
    token = work / "token"
    token.write_text(secrets.token_hex(32))
    os.environ.update({
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0",
        # notice a dead node within seconds, not the default half minute
        "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
    })


def start_cluster(work: Path) -> subprocess.Popen:
    ray_bin = str(Path(sys.executable).parent / "ray")
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    subprocess.run([ray_bin, "start", "--head", f"--port={PORT}", "--include-dashboard=false",
                    f"--temp-dir={work / 'r'}", *common], check=True, stdout=subprocess.DEVNULL)
    # the worker node in a process group of its own, so the test can kill it (raylet and its workers) at once
    worker = subprocess.Popen([ray_bin, "start", f"--address=127.0.0.1:{PORT}", "--block", *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    import ray

    ray.init(address=f"127.0.0.1:{PORT}", logging_level="WARNING", log_to_driver=False)
    deadline = time.time() + 120
    while sum(n["Alive"] for n in ray.nodes()) < 2:
        if time.time() > deadline:
            raise RuntimeError("the worker node did not join")
        time.sleep(0.5)
    return worker


def main(work: Path, data: Path) -> dict:
    import ray

    from jointspace.distributed import index
    from jointspace.errors import JointspaceError

    facts: dict = {}
    t0 = time.time()
    worker = start_cluster(work)
    facts["nodes"] = sum(n["Alive"] for n in ray.nodes())
    facts["cluster_start_s"] = round(time.time() - t0, 1)
    out = work / "col"
    shards_dir = out / "_embeddings"
    killed: dict = {}

    def kill_worker_after_first_shard() -> None:
        while not killed:
            done = list(shards_dir.glob("shard-*.parquet"))
            if done:
                killed["shards_written"] = len(done)
                os.killpg(worker.pid, signal.SIGKILL)
                killed["at"] = time.time()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_worker_after_first_shard, daemon=True)
    watcher.start()
    settings = dict(workers=2, shard_rows=30, batch_size=15, keep=None)
    t1 = time.time()
    try:
        first = index(data, out, **settings)
        facts["first_run"] = {"completed": True, "summary": first.summary()}
    except JointspaceError as exc:
        facts["first_run"] = {"completed": False, "error": str(exc)}
    facts["first_run_s"] = round(time.time() - t1, 1)
    watcher.join(timeout=5)
    facts["killed"] = killed
    worker.wait(timeout=30)
    facts["alive_nodes_after_kill"] = sum(n["Alive"] for n in ray.nodes())

    # a shard damaged on disk and a half-written one left behind: only what is missing is embedded again
    done = sorted(shards_dir.glob("shard-*.parquet"))
    facts["done_before_rerun"] = len(done)
    done[0].write_bytes(done[0].read_bytes()[:100])
    (shards_dir / "shard-00002.parquet.tmp").write_bytes(b"half")
    second = index(data, out, **settings)
    facts["second_run"] = {"shards": second.shards, "reused": second.shards_reused, "items": second.items,
                           "skipped": [str(s) for s in second.skipped]}

    # the same vectors as a 3-shard collection, each shard served by a Ray actor: a query fans out to all
    from jointspace import Collection
    from jointspace.distributed import serve_shards
    from jointspace.migrate import migrate

    migrate(out, work / "sharded", shards=3)
    served = serve_shards(work / "sharded")
    single = Collection.open(out)
    queries = single.vectors(single.ids()[::20])
    remote = served.search_batch(list(queries), k=5, where={"pos": "n"})
    local = single.search_batch(list(queries), k=5, where={"pos": "n"})
    facts["served"] = {"shards": len(served.actors), "queries": len(queries),
                       "same": all([h.id for h in a] == [h.id for h in b] for a, b in zip(remote, local, strict=True))}
    served.close()
    return facts


if __name__ == "__main__":
    ray_environment(Path(sys.argv[1]))
    result = main(Path(sys.argv[1]), Path(sys.argv[2]))
    print("RESULT " + json.dumps(result), flush=True)
