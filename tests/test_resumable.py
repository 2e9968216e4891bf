"""Resumable indexing and fair writers, with real processes.

A killed ``index`` keeps every batch it committed; running it again encodes only what is missing (a content
hash per item), ends complete, with no duplicate. Two writers at once both succeed: each waits for the other's
short batch transaction instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from typer.testing import CliRunner

from jointspace import Collection
from jointspace.cli import app

N = 1000
RECORDS = [{"id": f"r{i}", "text": f"record {i} about {['cats', 'dogs', 'fish', 'birds'][i % 4]} and "
            f"{['rivers', 'hills', 'towns'][i % 3]} number{i % 17}"} for i in range(N)]

SLOW_INDEX = textwrap.dedent("""
    import sys, time
    from jointspace import Collection
    from jointspace.encoders.tfidf import TfidfEncoder
    real = TfidfEncoder._encode
    def slow(self, items, batch_size, show_progress):
        time.sleep(0.4)
        return real(self, items, batch_size, show_progress)
    TfidfEncoder._encode = slow
    import json
    records = [json.loads(line) for line in open(sys.argv[2])]
    col = Collection.open(sys.argv[1])
    col.upsert(records, batch_size=50)
""")


def test_a_killed_index_resumes_with_nothing_encoded_twice(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    col = Collection.create(tmp_path / "c", encoder="tfidf", dim=512)
    col.upsert(RECORDS[:100])  # fits the encoder and commits it
    col.close()
    child = subprocess.Popen([sys.executable, "-c", SLOW_INDEX, str(tmp_path / "c"), str(data)])
    deadline = time.monotonic() + 240
    committed = 0
    while time.monotonic() < deadline and child.poll() is None:
        with Collection.open(tmp_path / "c") as probe:
            committed = len(probe)
        if committed >= 400:
            break
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert 400 <= committed < N, committed
    with Collection.open(tmp_path / "c") as col:
        stored = len(col)
        assert stored % 50 == 0 or stored == 100  # whole batches only
        encoded: list[int] = []
        real = col.encoder._encode

        def counting(items, batch_size, show_progress):
            encoded.append(len(items))
            return real(items, batch_size, show_progress)

        col.encoder._encode = counting
        report = col.upsert(RECORDS, batch_size=50)
        assert report.unchanged == stored and report.added == N - stored and report.updated == 0
        assert sum(encoded) == N - stored  # nothing encoded twice
        assert len(col) == N and len(set(col.ids())) == N
        assert col.get("r777") == RECORDS[777]
    # the CLI says how many it skipped when run again
    res = CliRunner().invoke(app, ["index", str(data), "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert f"{N} already stored" in res.output.replace("\n", " ")


WRITER = textwrap.dedent("""
    import sys
    from jointspace import Collection
    col = Collection.open(sys.argv[1])
    tag = sys.argv[2]
    records = [{"id": f"{tag}-{i}", "text": f"{tag} writes record {i} about cats and dogs"} for i in range(1500)]
    report = col.upsert(records, batch_size=100)
    print(report.added)
""")


def test_two_writers_at_once_both_succeed(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "w", encoder="tfidf", dim=256)
    col.add([{"id": "seed", "text": "a writes b writes record about cats and dogs"}])
    col.close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "w"), tag], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert [o[0].strip() for o in outs] == ["1500", "1500"]
    with Collection.open(tmp_path / "w") as col:
        assert len(col) == 3001
