"""The crash and fault tests the trusted stores run: SIGKILL at random moments of every write path, each
followed by an integrity check and a comparison with a replayed model of what was committed; a write into a
read-only directory that must fail cleanly; two writers and a reader at once.

A child process runs random operations and journals each one (``begin``) and its commit (``done``) to a
file, fsynced, before and after the call. After the kill, the collection must pass ``jointspace check`` and
hold exactly the model's state after the done operations, or after the one in flight as well (an operation
is one transaction: all of it or none of it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from jointspace import Collection, JointspaceError
from jointspace.stores.embedded.store import check

TRIALS = 24
WORDS = ["cat", "dog", "fish", "bird", "tree", "river", "hill", "town", "song", "book", "ship", "star"]

CHILD = textwrap.dedent("""
    import json, os, random, sys
    from jointspace import Collection
    from jointspace.migrate import migrate
    path, journal, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(seed)
    words = %r
    log = open(journal, "a")
    def note(entry):
        log.write(json.dumps(entry) + "\\n"); log.flush(); os.fsync(log.fileno())
    col = Collection.open(path)
    i = 0
    while True:
        i += 1
        op = rnd.choice(["add", "upsert", "delete", "index", "fields", "interactions", "migrate"])
        ids = [f"i{rnd.randrange(60)}" for _ in range(rnd.randrange(1, 30))]
        text = lambda: " ".join(rnd.choice(words) for _ in range(4))
        if op in ("add", "upsert", "index"):
            recs = [{"id": x, "text": text()} for x in dict.fromkeys(ids)]
            note({"i": i, "op": op, "recs": recs, "begin": True})
            if op == "index":  # the CLI's path: a batched upsert, each batch its own commit
                col.upsert(recs, batch_size=len(recs), atomic=True)
            else:
                getattr(col, op)(recs, atomic=True)
        elif op == "delete":
            note({"i": i, "op": op, "ids": ids, "begin": True})
            col.delete(ids)
        elif op == "fields":
            present = col.ids()[:20]
            note({"i": i, "op": op, "ids": present, "begin": True})
            if present:
                col.encode_field("words", "tfidf", ["text"], dim=64)
        elif op == "interactions":
            present = col.ids()[:15]
            rows = [(f"u{rnd.randrange(5)}", x) for x in present]
            note({"i": i, "op": op, "rows": rows, "begin": True})
            if rows:
                col.add_interactions(rows, merge=False, factors=4, iterations=2)
        else:
            target = f"{path}-copy-{seed}-{i}"
            note({"i": i, "op": op, "target": target, "begin": True})
            migrate(path, target)
        note({"i": i, "done": True})
""") % (WORDS,)


def replay(entries: list[dict], start: dict[str, str]) -> tuple[dict[str, str], dict[str, str] | None]:
    """The items after every done operation, and after the one in flight too (None when none was)."""
    state = dict(start)
    done = {e["i"] for e in entries if e.get("done")}
    pending = None

    def apply(entry: dict, items: dict[str, str]) -> dict[str, str]:
        items = dict(items)
        if entry["op"] == "add":
            for r in entry["recs"]:
                items.setdefault(r["id"], r["text"])
        elif entry["op"] in ("upsert", "index"):
            items.update({r["id"]: r["text"] for r in entry["recs"]})
        elif entry["op"] == "delete":
            for x in entry["ids"]:
                items.pop(x, None)
        return items

    for entry in entries:
        if entry.get("begin"):
            if entry["i"] in done:
                state = apply(entry, state)
            else:
                pending = apply(entry, state)
    return state, pending


def test_sigkill_at_random_moments_of_every_write_path(tmp_path: Path) -> None:
    rng = random.Random(2026)
    path = tmp_path / "c"
    col = Collection.create(path, encoder="tfidf", dim=128)  # the first write fits the encoder (one commit)
    col.close()
    counts = {"trials": 0, "in_flight_committed": 0, "in_flight_rolled_back": 0, "between_ops": 0}
    ops_seen: set[str] = set()
    for trial in range(TRIALS):
        with Collection.open(path) as before:
            start = {r["id"]: r["text"] for r in before}
        journal = tmp_path / f"journal-{trial}.jsonl"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(journal), str(trial)],
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120  # wait for the child to be writing, then kill it at a random moment
        while time.monotonic() < deadline and child.poll() is None and not (
                journal.exists() and journal.stat().st_size > 0):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.05, 2.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        entries = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()] \
            if journal.exists() else []
        ops_seen |= {e["op"] for e in entries if e.get("begin")}
        rows = check(path)
        assert all(status != "error" for _, status, _ in rows), rows
        with Collection.open(path) as after:
            now = {r["id"]: r["text"] for r in after}
            committed, in_flight = replay(entries, start)
            if now == committed:
                counts["in_flight_rolled_back" if in_flight is not None else "between_ops"] += 1
            else:
                assert in_flight is not None and now == in_flight, f"trial {trial}: neither committed state"
                counts["in_flight_committed"] += 1
            if len(after):
                assert after.search(" ".join(WORDS[:3]), k=3)  # searchable, index agrees with the table
                assert after.search("cat dog", k=3, mode="hybrid")
        for copy in tmp_path.glob("c-copy-*"):  # a killed migrate: the copy opens and checks, or is refused
            rows = check(copy)
            assert rows[0][0] == "open" and "not a jointspace collection" in rows[0][2] or \
                all(status != "error" for _, status, _ in rows), rows
        counts["trials"] += 1
    from conftest import REPORT

    REPORT.append(f"SIGKILL trials: {counts['trials']} (in flight and rolled back {counts['in_flight_rolled_back']}, "
                  f"in flight and committed {counts['in_flight_committed']}, between operations "
                  f"{counts['between_ops']}); every one passed `check` and matched the replayed model; "
                  f"operations run or killed: {', '.join(sorted(ops_seen))}")
    assert counts["trials"] == TRIALS and len(ops_seen) >= 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_write_into_a_read_only_directory_fails_cleanly(tmp_path: Path) -> None:  # pragma: no cover (root)
    col = Collection.create(tmp_path / "ro", encoder="tfidf")
    col.add([{"id": "a", "text": "cats and dogs"}])
    col.close()
    for p in [tmp_path / "ro", *(tmp_path / "ro").iterdir()]:
        p.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(JointspaceError):
        Collection.open(tmp_path / "ro").add([{"id": "b", "text": "cats"}])


def test_a_full_disk_fails_the_write_cleanly_and_keeps_the_collection(tmp_path: Path) -> None:
    """SQLite's max_page_count stands in for a full disk: the write fails with a clear error, nothing of it
    is kept, and the collection goes on working."""
    import sqlite3

    col = Collection.create(tmp_path / "full", encoder="tfidf", dim=64)
    col.add([{"id": f"x{i}", "text": f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}"} for i in range(20)])
    pages = col.store._db.execute("PRAGMA page_count").fetchone()[0]
    col.store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = [{"id": f"big{i}", "text": " ".join(WORDS) * 3, "blob": "z" * 5000} for i in range(200)]
    with pytest.raises((JointspaceError, sqlite3.OperationalError), match="full"):
        col.add(big, atomic=True)
    assert len(col) == 20 and "big0" not in col
    col.store._db.execute("PRAGMA max_page_count = 1073741823")
    assert col.add([{"id": "after", "text": "cat dog"}]).added == 1
    col.close()
    assert all(status != "error" for _, status, _ in check(tmp_path / "full"))


READER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from jointspace import Collection
    col = Collection.open(sys.argv[1])
    short, n, deadline = 0, 0, time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        hits = col.search(np.ones(col.encoder.dim, np.float32), k=10, where="keep = true")
        n += 1
        short += len(hits) < 10
    print(n, short)
""")
WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from jointspace import Collection
    col = Collection.open(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    for i in range(30):
        ids = [f"w{sys.argv[2]}-{j}" for j in range(40)]
        col.upsert_vectors(ids, [{"keep": False}] * 40, rng.normal(size=(40, col.encoder.dim)))
        col.delete(ids[:20])
    print("ok")
""")


def test_two_writers_and_a_reader_at_once(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "rw", encoder="tfidf", dim=32)
    rng = np.random.default_rng(0)
    col.upsert_vectors([f"k{i}" for i in range(50)], [{"keep": True}] * 50, rng.normal(size=(50, 32)))
    col.close()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(tmp_path / "rw"), "25"], stdout=subprocess.PIPE,
                              text=True)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "rw"), str(s)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in (1, 2)]
    outs = [w.communicate(timeout=600) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [o[1][-1500:] for o in outs]
    searches, short = map(int, reader.communicate(timeout=600)[0].split())
    assert searches > 0 and short == 0, f"{short} of {searches} searches returned fewer than k hits"
    with Collection.open(tmp_path / "rw") as after:
        assert len(after) == 50 + 2 * 20
