"""Joint spaces learned from real pairs: the three methods, metrics, saving, bad input, CLI, collections.

Real data throughout: Fashion-MNIST (two halves of each garment image as paired views; images <->
class descriptions with EfficientNet and MiniLM), real encoders, a real collection and the CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

import jointspace
from jointspace.align import JointSpace, make_aligner
from jointspace.errors import FormatError, JointspaceError
from jointspace.evaluate.alignment import cross_modal_metrics


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    # the test machine's 2 cores are shared: multi-threaded BLAS spins and runs several times slower
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def halves() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """800 Fashion-MNIST test images cut in two: left half <-> right half of the same garment, and its class."""
    from jointspace.evaluate.fashion_data import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    pick = np.random.default_rng(0).permutation(len(labels))[:800]
    x = images[pick].astype(np.float32) / 255
    return x[:, :, :14].reshape(len(pick), -1), x[:, :, 14:].reshape(len(pick), -1), labels[pick]


def run_cli(*args: str) -> tuple[int, str]:
    from jointspace.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


# -- metrics --------------------------------------------------------------------------------------
def test_metrics_by_hand() -> None:
    left = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    right = np.array([[1, 0.1], [1, 0.2], [0.6, 1]], np.float32)
    m = cross_modal_metrics(left, right)
    # left 0 -> right 0 is best (rank 1); left 1 ([0,1]) -> right 1 ([1,.2]) comes after right 2 and 0: rank 3;
    # left 2 ([1,1]) -> right 2 ([.6,1]) is best: rank 1
    assert m["left->right"]["recall@1"] == pytest.approx(2 / 3)
    assert m["left->right"]["median_rank"] == 1.0
    assert m["left->right"]["recall@5"] == 1.0
    gap = np.linalg.norm((left / np.linalg.norm(left, axis=1, keepdims=True)).mean(0)
                         - (right / np.linalg.norm(right, axis=1, keepdims=True)).mean(0))
    assert m["modality_gap"] == pytest.approx(gap, abs=1e-6)
    # many-to-one: two images of class 0, one caption for it; each image finds the caption first
    grouped = cross_modal_metrics(np.array([[1, 0], [1, 0], [0, 1]], np.float32),
                                  np.array([[1, 0.1], [0.9, 0.3], [0.1, 1]], np.float32))
    assert grouped["right->left"]["recall@1"] == 1.0 and grouped["left->right"]["recall@1"] == 1.0


# -- the methods on real paired views ----------------------------------------------------------------
@pytest.mark.parametrize("method,params", [("procrustes", {"dim": 64}), ("cca", {"dim": 32}),
                                           ("contrastive", {"head": "linear", "epochs": 8, "dim": 64})])
def test_methods_align_two_views_of_real_images(halves, method: str, params: dict) -> None:
    left, right, _ = halves
    space = jointspace.align(left, right, method=method, holdout=0.25, seed=0, **params)
    m = space.metrics
    assert space.info["heldout_pairs"] == 200  # chance recall@10 is 10/200 = 0.05
    for direction in ("left->right", "right->left"):
        assert m[direction]["recall@10"] > 0.5, (method, m)
        assert m[direction]["median_rank"] <= 10
    raw_gap = cross_modal_metrics(left[:200], right[:200])["modality_gap"]
    assert m["modality_gap"] < 0.2 < raw_gap
    assert space.transform(left[:5], "left").shape == (5, space.dim)


def test_contrastive_mlp_is_seeded_and_early_stops(halves) -> None:
    left, right, labels = halves
    fit = [make_aligner("contrastive", epochs=40, patience=2, seed=s, hidden=64, dim=32).fit(
        left[:300], right[:300], groups=np.arange(300)) for s in (3, 3, 4)]
    assert all(np.array_equal(fit[0].state[k], fit[1].state[k]) for k in fit[0].state)
    assert not np.array_equal(fit[0].state["left_w0"], fit[2].state["left_w0"])
    assert len(fit[0].history) < 41  # stopped early: held-back recall stopped improving
    best = max(h["val_recall"] for h in fit[0].history)
    assert float(fit[0].state["best_val_recall"]) == best > fit[0].history[0]["val_recall"]
    assert fit[0].history[-1]["temperature"] != pytest.approx(0.07)  # learned


# -- saving ---------------------------------------------------------------------------------------
def test_save_load_roundtrip_refuses_other_versions(tmp_path: Path, halves, monkeypatch) -> None:
    left, right, labels = halves
    space = jointspace.align(left[:300], right[:300], method="cca", dim=16, groups=labels[:300],
                             left_modality="image-left", right_modality="image-right")
    path = space.save(tmp_path / "space")
    loaded = jointspace.load_space(path)
    assert loaded.method == "cca" and loaded.dim == 16 and loaded.left.modality == "image-left"
    np.testing.assert_allclose(loaded.transform(left[:20], "image-left"), space.transform(left[:20], "left"))
    assert loaded.metrics == json.loads(json.dumps(space.metrics))
    with pytest.raises(JointspaceError, match="exists already"):
        space.save(path)
    # a save interrupted half-way (Ctrl-C while writing) keeps the previous space and leaves no debris
    from jointspace.align import space as space_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(space_module.json, "dump", interrupted)
    other = jointspace.align(left[:300], right[:300], method="procrustes", dim=8)
    with pytest.raises(KeyboardInterrupt):
        other.save(path, overwrite=True)
    monkeypatch.undo()
    assert JointSpace.load(path).method == "cca"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space"]
    config = json.loads((path / "space.json").read_text())
    config["format"] = 99
    (path / "space.json").write_text(json.dumps(config))
    with pytest.raises(FormatError, match="format 99"):
        JointSpace.load(path)
    with pytest.raises(JointspaceError, match="not a jointspace space"):
        JointSpace.load(tmp_path)


def test_ctrl_c_during_training_leaves_no_space(tmp_path: Path, halves) -> None:
    left, right, _ = halves
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"a": a.round(3).tolist(), "b": b.round(3).tolist()}) + "\n"
                             for a, b in zip(left[:400], right[:400], strict=True)))
    out = tmp_path / "space"
    cmd = [sys.executable, "-c", "from jointspace.cli import app; app()", "align", str(pairs), "--left",
           "vector:a", "--right", "vector:b", "--method", "contrastive", "--epochs", "100000",
           "--param", "patience=100000", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stderr is not None
    seen = ""
    deadline = time.time() + 120
    while "epoch 1:" not in seen and time.time() < deadline:  # wait until training is under way
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert "epoch 1:" in seen, seen
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    assert "interrupted" in err and "nothing written" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl"]


# -- bad input ------------------------------------------------------------------------------------
def test_bad_pairs_give_clear_errors(halves) -> None:
    left, right, labels = halves
    with pytest.raises(JointspaceError, match="needs at least"):
        jointspace.align(left[:5], right[:5], method="contrastive", holdout=0)
    with pytest.raises(JointspaceError, match="one class"):
        jointspace.align(left[:50], right[:50], method="cca", groups=[7] * 50)
    with pytest.raises(JointspaceError, match="identical"):
        jointspace.align(np.tile(left[:1], (50, 1)), right[:50], method="procrustes")
    with pytest.raises(JointspaceError, match="pairs must match"):
        jointspace.align(left[:50], right[:40], method="procrustes")
    bad = left[:50].copy()
    bad[17, 3] = np.nan
    with pytest.raises(JointspaceError, match="row 17"):
        jointspace.align(bad, right[:50], method="procrustes")
    with pytest.raises(JointspaceError, match="unknown alignment method"):
        jointspace.align(left[:50], right[:50], method="magic")
    space = jointspace.align(left[:100], right[:100], method="procrustes", dim=8)
    with pytest.raises(JointspaceError, match="dim 10"):
        space.transform(np.zeros((2, 10)), "left")


# -- real encoders: images <-> descriptions, collections, captions, evaluation --------------------------
@pytest.fixture(scope="module")
def fashion(tmp_path_factory) -> dict:
    """A space learned from 200 training images <-> class descriptions (MiniLM | EfficientNet, CCA), and
    60 held-out test images written as PNG files with a records file pointing at them (relative paths)."""
    from PIL import Image

    from jointspace.evaluate.alignment_data import fashion_pairs
    from jointspace.evaluate.alignment_run import right_vectors, text_vectors

    root = tmp_path_factory.mktemp("fashion")
    train = fashion_pairs("train", 200, seed=1)
    space = jointspace.align(text_vectors(train.left), right_vectors(train, "efficientnet"), method="cca",
                             left_encoder="minilm", right_encoder="efficientnet", groups=train.groups, holdout=0)
    space.save(root / "space")
    test = fashion_pairs("test", 60, seed=1)
    (root / "img").mkdir()
    records = []
    for key, image, label in zip(test.keys, test.right, test.classes, strict=True):
        name = f"img/{key.replace('/', '-')}.png"
        Image.fromarray(image).save(root / name)
        records.append({"id": key, "image": name, "label": int(label)})
    (root / "images.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))  # paths relative to it
    (root / "images_abs.jsonl").write_text("".join(json.dumps({**r, "image": str(root / r["image"])}) + "\n"
                                                   for r in records))
    return {"root": root, "space": root / "space", "records": records, "test": test}


def precision_at(col_dir: Path, k: int = 5) -> float:
    from jointspace.evaluate.fashion_data import CLASSES

    col = jointspace.Collection.open(col_dir)
    hits = col.search_batch(list(CLASSES), k=k)  # class names: phrasings the space never saw
    col.close()
    return float(np.mean([[h.fields["label"] == c for h in hs] for c, hs in enumerate(hits)]))


def test_collection_with_space_finds_images_by_text_better(fashion) -> None:
    root = fashion["root"]
    code, output = run_cli("index", str(root / "images.jsonl"), "--out", str(root / "with"), "--space",
                           str(fashion["space"]), "--text", "image")
    assert code == 0, output
    assert "60 added" in output
    code, output = run_cli("index", str(root / "images_abs.jsonl"), "--out", str(root / "without"), "--encoder",
                           "image-text", "--text", "image")
    assert code == 0, output
    info = json.loads(run_cli("info", str(root / "with"), "--json")[1])
    assert info["encoder"]["name"] == "space" and info["encoder"]["modality"] == "image"
    with_space, bridge_only = precision_at(root / "with"), precision_at(root / "without")
    assert with_space > bridge_only + 0.1, (with_space, bridge_only)
    code, output = run_cli("search", str(root / "with"), "a running shoe", "-k", "3", "--json")
    assert code == 0 and all(h["fields"]["label"] == 7 for h in json.loads(output)), output


def test_caption_ranks_descriptions_of_the_right_class(fashion, tmp_path: Path) -> None:
    from jointspace.align.captions import rank_captions
    from jointspace.evaluate.alignment_data import FASHION_DESCRIPTIONS

    captions = tmp_path / "captions.txt"
    captions.write_text("\n".join(d for ds in FASHION_DESCRIPTIONS for d in ds[1:]) + "\n\n")
    test, records = fashion["test"], fashion["records"]
    owner = {d: c for c, ds in enumerate(FASHION_DESCRIPTIONS) for d in ds}
    space = JointSpace.load(fashion["space"])
    candidates = [line for line in captions.read_text().split("\n") if line]
    right = sum(owner[rank_captions(test.right[i], candidates, k=1, space=space)[0].text] == test.classes[i]
                for i in range(0, 60, 6))
    assert right >= 7, right
    image = fashion["root"] / records[0]["image"]
    code, output = run_cli("caption", str(image), "--captions", str(captions), "-k", "3", "--json", "--space",
                           str(fashion["space"]))
    assert code == 0, output
    ranked = json.loads(output)
    assert len(ranked) == 3 and set(ranked[0]) == {"caption", "score", "source"}
    assert ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    code, output = run_cli("caption", str(image), "--captions", str(empty))
    assert code == 1 and "no captions" in output
    code, output = run_cli("caption", str(tmp_path / "nope.png"), "--captions", str(captions))
    assert code == 1 and "nope.png" in output and "no such file" in output


def test_align_cli_reports_missing_and_unreadable_files(fashion, tmp_path: Path) -> None:
    root = fashion["root"]
    pairs = [{"id": r["id"], "caption": f"garment of class {r['label']}", "image": str(root / r["image"])}
             for r in fashion["records"][:30]]
    (tmp_path / "notes.png").write_text("not a picture at all\n")
    pairs += [{"id": "gone", "caption": "a coat", "image": str(tmp_path / "missing.png")},
              {"id": "fake", "caption": "a bag", "image": str(tmp_path / "notes.png")},
              {"id": "blank", "caption": "", "image": pairs[0]["image"]}]
    file = tmp_path / "pairs.jsonl"
    file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    code, output = run_cli("align", str(file), "--left", "text:caption", "--right", "image:image", "--method",
                           "procrustes", "--dim", "8", "--out", str(tmp_path / "space"), "--json")
    assert code == 0, output
    assert "30 pairs read, 3 skipped" in output
    assert "id 'gone'" in output and "no such file" in output
    assert "id 'fake'" in output and "not an image" in output and "id 'blank'" in output
    metrics = json.loads(output.strip().splitlines()[-1])
    assert set(metrics) == {"left->right", "right->left", "modality_gap"}
    assert JointSpace.load(tmp_path / "space").right.field == "image"


def test_evaluate_alignment_json_and_plot(fashion, tmp_path: Path) -> None:
    plot = tmp_path / "space.png"
    results = {}
    for method in ("bridge", "cca"):
        code, output = run_cli("evaluate", "alignment", "--dataset", "fashion-mnist", "--method", method,
                               "--train-size", "200", "--test-size", "60", "--seed", "1", "--json",
                               *(["--plot", str(plot)] if method == "cca" else []))
        assert code == 0, output
        results[method] = json.loads(output.strip().splitlines()[-1])
    for m in results.values():
        assert set(m) == {"left->right", "right->left", "modality_gap"}
        for direction in ("left->right", "right->left"):
            assert set(m[direction]) == {"recall@1", "recall@5", "recall@10", "median_rank"}
    assert results["cca"]["right->left"]["recall@1"] > results["bridge"]["right->left"]["recall@1"]
    assert results["cca"]["modality_gap"] < results["bridge"]["modality_gap"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000
