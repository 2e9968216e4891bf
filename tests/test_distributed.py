"""Ray Data embedding jobs on a real 2-node Ray cluster, in a private network namespace with only loopback.

One cluster run (tests/ray_cluster_job.py) covers: the job on head + worker, the worker node killed
after its first shard is written, a re-run that also re-embeds a damaged shard, and shards served by
Ray actors. The checks below read its
facts and the collection it built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jointspace import Collection, JointspaceError
from jointspace.distributed import check_address, index
from jointspace.distributed.job import input_files
from jointspace.evaluate.datasets import wordnet_sample

HERE = Path(__file__).parent
N = 240


def write_data(path: Path) -> list[dict]:
    records = [{"id": s.id, "text": s.definition, "word": s.word, "pos": s.pos} for s in wordnet_sample(N, seed=3)]
    with open(path, "w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
        fh.write("{not json\n")
        fh.write(json.dumps({"id": "blank", "text": "  "}) + "\n")
    return records


def can_make_netns() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not can_make_netns():
        pytest.skip("needs root and unshare (a private network namespace keeps Ray on loopback)")
    work = tmp_path_factory.mktemp("ray")
    data = work / "data.jsonl"
    records = write_data(data)
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1"}
    script = f"ip link set lo up && exec {sys.executable} {HERE / 'ray_cluster_job.py'} {work} {data}"
    proc = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child", "bash", "-c", script],
                          capture_output=True, text=True, timeout=480, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"cluster run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return {"facts": json.loads(lines[-1][len("RESULT "):]), "records": records, "out": work / "col"}


def test_two_node_cluster_survives_a_killed_worker(cluster_run: dict) -> None:
    facts = cluster_run["facts"]
    assert facts["nodes"] == 2
    shards = facts["second_run"]["shards"]
    assert shards == -(-N // 30)
    # the worker node died mid-job: some but not all shards were written when it was killed
    assert 1 <= facts["killed"]["shards_written"] < shards
    assert facts["alive_nodes_after_kill"] == 1
    if not facts["first_run"]["completed"]:
        assert "run the same command again" in facts["first_run"]["error"]
    # the re-run finishes (or finds everything finished) and the bad input is reported
    skipped = " ".join(facts["second_run"]["skipped"])
    assert "malformed JSON" in skipped and "blank" in skipped


def test_collection_is_complete_and_duplicate_free(cluster_run: dict) -> None:
    col = Collection.open(cluster_run["out"])
    ids = col.ids()
    assert len(ids) == len(set(ids)) == N
    assert set(ids) == {r["id"] for r in cluster_run["records"]}
    assert cluster_run["facts"]["second_run"]["items"] == N
    one = cluster_run["records"][7]
    assert col.get(one["id"])["word"] == one["word"]


def test_damaged_shard_is_embedded_again(cluster_run: dict) -> None:
    facts = cluster_run["facts"]
    assert facts["second_run"]["reused"] == facts["done_before_rerun"] - 1
    assert not list((cluster_run["out"] / "_embeddings").glob("*.tmp"))


def test_shards_served_by_ray_actors(cluster_run: dict) -> None:
    served = cluster_run["facts"]["served"]
    assert served["shards"] == 3 and served["queries"] >= 10
    assert served["same"], "actor-served shards must merge into the exact top-k of the single collection"


def test_vectors_equal_single_process(cluster_run: dict) -> None:
    from jointspace.encoders.minilm import MiniLMEncoder

    col = Collection.open(cluster_run["out"])
    sample = cluster_run["records"][::6]
    ours = col.vectors([r["id"] for r in sample])
    local = MiniLMEncoder().encode([r["text"] for r in sample])
    cosines = np.sum(ours * local, axis=1)
    assert cosines.min() >= 0.9999
    hits = col.search(sample[0]["text"], k=1)
    assert hits[0].id == sample[0]["id"]


def test_unreachable_address_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "1", "text": "a small test"}) + "\n")
    with pytest.raises(JointspaceError, match="cannot reach a Ray cluster at 127.0.0.1:9"):
        index(data, tmp_path / "out", encoder="tfidf", address="127.0.0.1:9")
    with pytest.raises(JointspaceError, match="expected host:port"):
        check_address("nowhere")
    # the same from the CLI: one line, exit code 1
    from typer.testing import CliRunner

    from jointspace.cli import app

    res = CliRunner().invoke(app, ["index", str(data), "--out", str(tmp_path / "o2"), "--encoder", "tfidf",
                                   "--engine", "ray", "--address", "127.0.0.1:9"])
    assert res.exit_code == 1 and "cannot reach a Ray cluster" in res.output


def test_work_dir_of_another_job_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.jsonl").write_text(json.dumps({"id": "b", "text": "second file"}) + "\n")
    (folder / "a.csv").write_text("id,text\na,first file\n")
    (folder / "notes.txt").write_text("ignored")
    assert [p.name for p in input_files(folder)] == ["a.csv", "b.jsonl"]
    with pytest.raises(JointspaceError, match="cannot reach"):
        index(folder, tmp_path / "out", encoder="tfidf", address="127.0.0.1:9")
    (folder / "b.jsonl").write_text(json.dumps({"id": "b", "text": "changed"}) + "\n")
    with pytest.raises(JointspaceError, match="another job"):
        index(folder, tmp_path / "out", encoder="tfidf", address="127.0.0.1:9")
