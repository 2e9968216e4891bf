"""The three faults of the embedded store, each reproduced with two real processes or a kill at the exact step.

1. A write that waits for another process's write must bring its index up to date under the write lock;
   otherwise the rows the other process added never enter its index.
2. The HNSW graph cache is validated by the generation it was built from, never by its row count.
3. A kill while the encoder's fitted state is committed never leaves a collection that cannot open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from jointspace import Collection

DIM = 16


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    from jointspace import Collection
    from jointspace.stores.embedded.store import EmbeddedStore
    path, marker = sys.argv[1], Path(sys.argv[2])
    original = EmbeddedStore._apply
    def slow_apply(self, inserted, removed):   # inside the write transaction, before COMMIT
        original(self, inserted, removed)
        marker.write_text("holding the write lock")
        time.sleep(3)
    EmbeddedStore._apply = slow_apply
    col = Collection.open(path)
    rng = np.random.default_rng(5)
    v = rng.normal(size=(200, 16)).astype(np.float32)
    col.upsert_vectors([f"theirs-{i}" for i in range(200)], [{"who": "theirs"}] * 200, v)
    col.close()
""")


def test_a_write_that_waited_keeps_the_other_process_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    col = Collection.create(tmp_path / "c", encoder="tfidf", dim=DIM)
    col.add([{"id": f"mine-{i}", "text": "x", "who": "mine"} for i in range(20)], vectors=unit(rng, 20))
    assert len(col.search(unit(rng, 1)[0], k=5)) == 5  # this process's index is loaded and current
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(col.path), str(marker)])
    try:
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline and child.poll() is None:
            time.sleep(0.02)
        assert marker.exists(), "the other writer never took the lock"
        # this write has to wait for the other one's commit
        report = col.add([{"id": "late", "text": "x", "who": "mine"}], vectors=unit(rng, 1))
        assert report.added == 1
    finally:
        child.wait(timeout=120)
    assert child.returncode == 0
    hits = col.search(np.ones(DIM, np.float32), k=10, where={"who": "theirs"})
    assert len(hits) == 10 and all(h.id.startswith("theirs-") for h in hits)
    everything = col.search(np.ones(DIM, np.float32), k=500)
    assert len(everything) == len(col) == 221
    col.close()


SAME_COUNT_UPSERT = textwrap.dedent("""
    import sys
    import numpy as np
    from jointspace import Collection
    col = Collection.open(sys.argv[1])
    rng = np.random.default_rng(99)
    v = rng.normal(size=(300, 16)).astype(np.float32)
    col.upsert_vectors([f"item-{i}" for i in range(300)], [{"n": i} for i in range(300)], v)
    np.save(sys.argv[2], v / np.linalg.norm(v, axis=1, keepdims=True))
    col.close()
""")


def test_hnsw_cache_is_validated_by_generation_not_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    col = Collection.create(tmp_path / "h", encoder="tfidf", dim=DIM, index={"kind": "hnsw", "m": 8})
    col.upsert_vectors([f"item-{i}" for i in range(300)], [{"n": i} for i in range(300)], unit(rng, 300))
    col.search(unit(rng, 1)[0], k=5)  # builds the graph
    col.close()  # and saves it, named by its generation
    assert len(list((tmp_path / "h").glob("hnsw.*.faiss"))) == 1
    new = tmp_path / "new.npy"
    out = subprocess.run([sys.executable, "-c", SAME_COUNT_UPSERT, str(tmp_path / "h"), str(new)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    vectors = np.load(new)
    again = Collection.open(tmp_path / "h")
    wrong = sum(again.search(vectors[i], k=1)[0].id != f"item-{i}" for i in range(300))
    assert wrong == 0, f"{wrong} of 300 self-searches returned a wrong id"
    again.close()


KILL_IN_FIT = textwrap.dedent("""
    import os, signal, sys
    import jointspace.stores.embedded.store as store_module
    from jointspace import Collection
    real = store_module.encoder_to_bytes
    step = sys.argv[2]
    def dying(enc):
        blob = real(enc)
        if step == "before-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return blob
    store_module.encoder_to_bytes = dying
    if step == "after-commit":
        original = store_module.EmbeddedStore.save_encoder
        def save_then_die(self, enc):
            original(self, enc)
            os.kill(os.getpid(), signal.SIGKILL)
        store_module.EmbeddedStore.save_encoder = save_then_die
    col = Collection.open(sys.argv[1])
    col.add([{"id": str(i), "text": f"cats and dogs number {i} " + ("fish " * (i % 3))} for i in range(50)])
""")


def test_a_kill_while_the_fitted_encoder_commits_leaves_an_openable_collection(tmp_path: Path) -> None:
    for step in ("before-commit", "after-commit"):
        path = tmp_path / step
        Collection.create(path, encoder="tfidf").close()
        child = subprocess.run([sys.executable, "-c", KILL_IN_FIT, str(path), step], timeout=300)
        assert child.returncode == -signal.SIGKILL
        col = Collection.open(path)  # never unopenable
        assert len(col) == 0
        assert col.encoder.is_fitted == (step == "after-commit")
        report = col.add([{"id": "a", "text": "cats and dogs"}, {"id": "b", "text": "fish in the sea"}])
        assert report.added == 2 and col.search("cats", k=1)[0].id == "a"
        col.close()
        assert Collection.open(path).encoder.is_fitted


def test_a_format_1_collection_written_by_main_still_opens(tmp_path: Path) -> None:
    """Collections written before the encoder state moved into SQLite keep their encoder/ folder."""
    import sqlite3

    col = Collection.create(tmp_path / "old", encoder="tfidf")
    col.add([{"id": "1", "text": "cats and dogs"}, {"id": "2", "text": "fish in the sea"}])
    col.encoder.save(tmp_path / "old" / "encoder")  # what main wrote on fit
    col.close()
    with sqlite3.connect(tmp_path / "old" / "items.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'encoder_state'")
    again = Collection.open(tmp_path / "old")
    assert again.search("fish", k=1)[0].id == "2"
    again.close()
    assert not os.path.exists(tmp_path / "old" / "encoder.tmp")
