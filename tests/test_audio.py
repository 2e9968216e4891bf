"""Audio reader (formats, resampling, limits, bad files) and the speech, voice and audio-stats encoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _media import long_wav

from jointspace.encoders import encoder
from jointspace.errors import ItemError
from jointspace.readers.audio import SAMPLE_RATE, load_audio
from jointspace.samples import speech_samples

SAMPLES = {s.path.stem: s for s in speech_samples()}
PASSWORD = SAMPLES["en-agent-pass"].path  # "Please enter your password followed by the pound key."
GOODBYE = SAMPLES["en-vm-goodbye"].path
BEEP = SAMPLES["en-beep"].path


def test_bundled_samples_have_transcripts() -> None:
    assert len(SAMPLES) == 17
    assert SAMPLES["en-tt-weasels"].label == "Weasels have eaten our phone system"


@pytest.mark.parametrize("fmt,suffix", [("WAV", ".wav"), ("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
def test_formats_resampled_to_16k_mono(tmp_path: Path, fmt: str, suffix: str) -> None:
    original, rate = sf.read(PASSWORD, dtype="float32")
    stereo = np.stack([original, original * 0.5], axis=1)
    path = tmp_path / f"clip{suffix}"
    sf.write(path, stereo, rate, format=fmt)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / SAMPLE_RATE - len(original) / rate) < 0.1
    reference = load_audio(PASSWORD) * 0.75  # the mono mix of the two channels
    n = min(len(samples), len(reference))
    assert np.corrcoef(samples[:n], reference[:n])[0, 1] > 0.95


def test_m4a_through_pyav_and_bytes(tmp_path: Path) -> None:
    import av

    samples = load_audio(PASSWORD)
    path = tmp_path / "clip.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    decoded = load_audio(path)
    assert abs(len(decoded) - len(samples)) < 0.2 * SAMPLE_RATE
    assert len(load_audio(PASSWORD.read_bytes())) == len(samples)


def test_zero_length_wav(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ItemError, match="empty.wav: empty file"):
        load_audio(empty)
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros(0, np.float32), 8000)
    with pytest.raises(ItemError, match="header.wav: audio of 0.000 s is too short"):
        load_audio(header_only)


def test_two_hour_file_refused_from_header(tmp_path: Path) -> None:
    path = long_wav(tmp_path / "meeting.wav")
    with pytest.raises(ItemError, match=r"meeting.wav: audio of 7,200 s is over the limit of 600 s"):
        load_audio(path)


def test_not_audio(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("meeting notes, not a recording\n" * 20)
    with pytest.raises(ItemError, match="notes.wav: not a readable audio"):
        load_audio(text)


def test_speech_transcript_and_text_space() -> None:
    speech = encoder("speech", cache=False)
    vectors, details = speech.encode_with_details([PASSWORD, GOODBYE, BEEP])
    assert vectors.shape == (3, 384)
    assert len(details[0]["transcript"].split()) >= 4  # words come out (exact words may differ)
    assert details[2]["transcript"] == "" or len(details[2]["transcript"].split()) <= 2  # a beep
    query = speech.encode_text(["please enter your password followed by the pound key"])
    scores = (query @ vectors.T)[0]
    assert scores[0] == scores.max()


def test_speech_bad_item_position(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ItemError) as info:
        encoder("speech", cache=False).encode([GOODBYE, empty])
    assert info.value.position == 1


def test_voice_same_speaker_closer() -> None:
    english = [SAMPLES[n].path for n in ("en-agent-pass", "en-conf-onlyperson", "en-pbx-invalid")]
    italian = [SAMPLES[n].path for n in ("it-please-try-call-later", "it-conf-getpin")]
    vectors = encoder("voice").encode(english + italian)
    assert vectors.shape == (5, 256)
    sims = vectors @ vectors.T
    same = np.mean([sims[0, 1], sims[0, 2], sims[1, 2], sims[3, 4]])
    other = sims[:3, 3:].mean()
    assert same > other + 0.1


def test_audio_stats_finds_the_same_sound(tmp_path: Path) -> None:
    clips = [s.path for s in SAMPLES.values()]
    stats = encoder("audio-stats").fit(clips)
    vectors = stats.encode(clips)
    assert vectors.shape == (len(clips), 194)
    copy = tmp_path / "beep.mp3"  # the same beep, re-encoded lossily
    data, rate = sf.read(BEEP)
    sf.write(copy, data, rate, format="MP3")
    query = stats.encode([copy])[0]
    assert clips[int(np.argmax(vectors @ query))] == BEEP
    with pytest.raises(Exception, match="must be fitted"):
        encoder("audio-stats").encode(clips[:1])
