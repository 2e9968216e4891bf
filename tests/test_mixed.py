"""Video, modality detection, the joint encoder and mixed-media collections (Python API and CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _media import CHINA, FLOWER, long_wav, make_video, png_bomb, text_named_png, truncated_jpeg
from PIL import Image

from jointspace.collection import Collection
from jointspace.encoders import encoder
from jointspace.errors import ItemError
from jointspace.readers.audio import load_audio
from jointspace.readers.detect import detect_modality
from jointspace.readers.video import load_video
from jointspace.samples import speech_samples

SPEECH = {s.path.stem: s.path for s in speech_samples()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real files of every kind, and the bad files the issue names."""
    d = tmp_path_factory.mktemp("mixed")
    shutil.copy(FLOWER, d / "flower.jpg")
    shutil.copy(CHINA, d / "temple.jpg")
    shutil.copy(SPEECH["en-agent-pass"], d / "password.wav")
    shutil.copy(SPEECH["en-beep"], d / "beep.wav")
    (d / "note.txt").write_text("Remember to water the garden flowers and the daisies on Sunday.")
    make_video(d / "clip.mp4", [Image.open(FLOWER), Image.open(CHINA)], audio=load_audio(SPEECH["en-vm-nomore"]))
    bad = d / "bad"
    bad.mkdir()
    truncated_jpeg(bad / "cut.jpg")
    text_named_png(bad / "list.png")
    (bad / "empty.wav").write_bytes(b"")
    data = (d / "clip.mp4").read_bytes()
    (bad / "broken.mp4").write_bytes(data[: len(data) // 3])
    png_bomb(bad / "bomb.png")
    long_wav(bad / "meeting.wav")
    return d


def test_detect_by_content_not_name(folder: Path, tmp_path: Path) -> None:
    assert detect_modality(folder / "flower.jpg") == "image"
    assert detect_modality(folder / "password.wav") == "audio"
    assert detect_modality(folder / "clip.mp4") == "video"
    assert detect_modality(folder / "note.txt") == "text"
    disguised = tmp_path / "photo.dat"  # a JPEG with a misleading name is still an image
    shutil.copy(FLOWER, disguised)
    assert detect_modality(disguised) == "image"
    with pytest.raises(ItemError, match="list.png: not an image although named .png: content is text"):
        detect_modality(folder / "bad" / "list.png")
    with pytest.raises(ItemError, match="broken.mp4: damaged media container"):
        detect_modality(folder / "bad" / "broken.mp4")


def test_video_frames_audio_and_segments(folder: Path) -> None:
    video = load_video(folder / "clip.mp4", frames=4)
    assert len(video.frames) == 4 and abs(video.duration - 4.0) < 0.3
    assert video.audio is not None and len(video.audio) > 16000
    enc = encoder("video", frames=4)
    vectors, details = enc.encode_with_details([folder / "clip.mp4"])
    assert vectors.shape == (1, 384) and details[0]["frames"] == 4 and details[0]["transcript"]
    segments = enc.segments(folder / "clip.mp4")
    frames = [s for s in segments if s["kind"] == "frame"]
    assert [s["start"] for s in frames] == sorted(s["start"] for s in frames)
    texts = enc.encode_text(["a photo of a daisy flower", "a photo of a palace"])
    first, last = frames[0]["vector"], frames[-1]["vector"]  # flower shown first, then the temple
    assert first @ texts[0] > first @ texts[1] and last @ texts[1] > last @ texts[0]
    assert any(s["kind"] == "speech" and s["transcript"] for s in segments)
    with pytest.raises(ItemError, match="broken.mp4"):
        load_video(folder / "bad" / "broken.mp4")


def test_folder_collection_keeps_going_and_finds_by_text(folder: Path, tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "c", encoder="joint", fields=["file"], media={"file": "file"})
    records = [{"id": p.relative_to(folder).as_posix(), "file": str(p)} for p in sorted(folder.rglob("*"))
               if p.is_file()]
    good = [r for r in records if not r["id"].startswith("bad/")]
    col.add(good[:2])  # something indexed before the bad batch
    report = col.upsert(records, batch_size=8)
    skipped = {s.where.split("'")[1]: s.reason for s in report.skipped}
    assert set(skipped) == {"bad/cut.jpg", "bad/list.png", "bad/empty.wav", "bad/broken.mp4", "bad/bomb.png",
                            "bad/meeting.wav"}
    assert "truncated" in skipped["bad/cut.jpg"] and "7,200 s" in skipped["bad/meeting.wav"]
    assert "decompression bomb" in skipped["bad/bomb.png"] and "empty file" in skipped["bad/empty.wav"]
    assert len(col) == len(good)  # nothing already indexed was lost
    assert col.get("password.wav")["modality"] == "audio" and col.get("password.wav")["transcript"]
    assert col.get("clip.mp4")["modality"] == "video"
    assert col.search("a daisy flower", k=1)[0].id == "flower.jpg"
    assert col.search("please enter your password", k=1)[0].id == "password.wav"
    images = col.search("a flower", k=5, where={"modality": "image"})
    assert {h.id for h in images} == {"flower.jpg", "temple.jpg"}
    assert col.search({"image": str(FLOWER)}, k=1)[0].id == "flower.jpg"  # query by example
    assert col.search(Path(SPEECH["en-agent-pass"]), k=1)[0].id == "password.wav"
    col.close()


def test_records_with_file_fields(tmp_path: Path) -> None:
    shutil.copy(FLOWER, tmp_path / "flower.jpg")
    shutil.copy(SPEECH["en-tt-weasels"], tmp_path / "weasels.wav")
    col = Collection.create(tmp_path / "c", encoder="joint", fields=["caption", "photo", "sound"],
                            media={"photo": "image", "sound": "audio"})
    report = col.add([
        {"id": "a", "caption": "spring garden", "photo": str(tmp_path / "flower.jpg")},
        {"id": "b", "sound": str(tmp_path / "weasels.wav")},
        {"id": "c", "caption": "quarterly tax report"},
        {"id": "d", "photo": str(tmp_path / "missing.jpg")},
        {"id": "e"},
    ])
    assert report.added == 3 and len(report.skipped) == 2
    assert col.get("a")["modality"] == "text+image" and "labels" in col.get("a")
    assert col.search("flowers in a garden", k=1)[0].id == "a"
    assert col.search("taxes", k=1)[0].id == "c"
    col.close()
    reopened = Collection.open(tmp_path / "c")
    assert reopened.manifest["media"] == {"photo": "image", "sound": "audio"}
    assert np.isclose(np.linalg.norm(reopened.vectors(["b"])), 1, atol=1e-4)
    reopened.close()


def _cli(*args: str) -> Any:
    """The real CLI, in-process (the models stay loaded between calls)."""
    from typer.testing import CliRunner

    from jointspace.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_index_folder_and_search(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "col"
    result = _cli("index", str(folder), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "6 skipped" in result.stderr and "bad/list.png" in result.stderr
    hits = json.loads(_cli("search", str(out), "a temple or palace", "--json", "-k", "1").stdout)
    assert hits[0]["id"] == "temple.jpg"
    hits = json.loads(_cli("search", str(out), "--audio", str(SPEECH["en-agent-pass"]), "--modality", "audio",
                           "--json", "-k", "2").stdout)
    assert hits[0]["id"] == "password.wav" and all(h["fields"]["modality"] == "audio" for h in hits)
    table = _cli("search", str(out), "enter your password", "-k", "1").stdout
    assert "[audio]" in table and "said:" in table
