"""Offline speech recognition on real recorded speech (LibriVox clips, see tests/asr_data.py), the bundled
model's hash check, and reading one interval of audio from a video with ffmpeg."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.transcript import whisper_model
from media_pipeline.transcript.asr import SAMPLE_RATE, read_pcm
from media_pipeline.transcript.sphinx import PocketsphinxEngine
from media_pipeline.transcript.whisper import WhisperEngine
from media_pipeline.transcript.whisper_model import ModelError

from . import asr_data, media

# Where each clip is placed in the "video", so timestamps must come back shifted by it.
OFFSET = 100.0


@pytest.fixture(scope="module")
def clips() -> list[asr_data.Clip]:
    try:
        return asr_data.librivox_clips()
    except asr_data.DataUnavailable as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # never a skip: without the clips nothing here is tested


@pytest.fixture(scope="module")
def bundled() -> whisper_model.ModelFolder:
    # Kept between runs like the clips; tests that damage a model work on their own copy in tmp_path.
    return whisper_model.bundled_model(asr_data.CACHE / "whisper-base")


@pytest.fixture(scope="module")
def whisper_results(clips, bundled):
    """One engine (the model loads once for the module), each clip transcribed as one interval."""
    engine = WhisperEngine(bundled)
    return engine, [engine.transcribe(clip.pcm(), OFFSET) for clip in clips]


@pytest.fixture(scope="module")
def sphinx_results(clips):
    engine = PocketsphinxEngine()
    return engine, [engine.transcribe(clip.pcm(), OFFSET) for clip in clips]


def _text(segments) -> str:
    return " ".join(s.text for s in segments)


def test_it_transcribes_real_speech_with_whisper_base_under_6_percent_wer(clips, whisper_results):
    engine, results = whisper_results
    hypotheses = [_text(segments) for segments in results]
    wer = asr_data.wer([c.text for c in clips], hypotheses)
    print(f"\nWhisper base int8, 1 thread: WER {wer:.1%} over {len(clips)} LibriVox clips")
    for clip, hyp in zip(clips, hypotheses, strict=True):
        print(f"  ref: {clip.text}\n  hyp: {hyp}")
    assert wer < 0.06
    assert engine.source == "asr:whisper-base"
    assert engine.language == "en"  # detected on the first clip and kept
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_it_gives_word_timestamps_in_order_within_the_clip(clips, whisper_results):
    _, results = whisper_results
    for clip, segments in zip(clips, results, strict=True):
        words = [w for s in segments for w in s.words]
        assert len(words) >= len(clip.text.split()) - 2
        previous_end = OFFSET
        for w in words:
            assert previous_end <= w.start <= w.end <= OFFSET + clip.seconds, (clip.name, w)
            previous_end = w.end
        for s in segments:
            assert OFFSET <= s.start <= s.end <= OFFSET + clip.seconds
            assert all(s.start <= w.start and w.end <= s.end for w in s.words)
        # The speech fills the clip: the words span most of it, not a sliver.
        assert words[-1].end - words[0].start > 0.6 * clip.seconds


def test_pocketsphinx_fallback_returns_words_and_says_it_is_low_accuracy(clips, sphinx_results):
    engine, results = sphinx_results
    wer = asr_data.wer([c.text for c in clips], [_text(segments) for segments in results])
    print(f"\npocketsphinx (fallback): WER {wer:.1%} over {len(clips)} LibriVox clips")
    assert "low accuracy" in engine.label
    assert engine.source == "asr:pocketsphinx"
    for clip, segments in zip(clips, results, strict=True):
        words = [w for s in segments for w in s.words]
        assert words, clip.name
        assert all(OFFSET <= w.start <= w.end <= OFFSET + clip.seconds for w in words)
        assert all(not w.text.startswith(("<", "[")) and "(" not in w.text for w in words)
    assert wer < 0.8  # loose on purpose: it is the fallback; the figure is printed above


def test_silence_gives_no_words(bundled):
    assert WhisperEngine(bundled, language="en").transcribe(np.zeros(5 * SAMPLE_RATE, np.float32), 0.0) == []
    assert WhisperEngine(bundled).transcribe(np.zeros(0, np.float32), 0.0) == []


def test_read_pcm_reads_one_interval_of_a_video(tmp_path):
    video = media.h264_aac(tmp_path / "tone.mp4", seconds=12)
    pcm = read_pcm(video, 4.0, 5.0)
    assert pcm.dtype == np.float32
    assert abs(pcm.size - 5 * SAMPLE_RATE) <= 400  # within one AAC frame
    # A 330 Hz tone at full scale of lavfi's sine (1/8): loud, and at the right pitch.
    assert 0.05 < float(np.sqrt(np.mean(pcm**2))) < 0.2
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / pcm.size - 330) < 5
    # The last interval is cut by the end of the file.
    tail = read_pcm(video, 10.0, 5.0)
    assert abs(tail.size - 2 * SAMPLE_RATE) <= 400


def test_read_pcm_gives_the_exact_samples_of_speech_in_a_video_container(tmp_path, clips):
    clip = clips[0]
    mkv = tmp_path / "speech.mkv"
    media.ffmpeg("-i", str(clip.wav), "-c:a", "flac", str(mkv))  # lossless, same rate: samples must match
    whole = clip.pcm()
    assert np.array_equal(read_pcm(mkv, 0.0, 60.0), whole)
    part = read_pcm(mkv, 2.0, 3.0)
    assert np.array_equal(part, whole[2 * SAMPLE_RATE : 5 * SAMPLE_RATE])


def test_read_pcm_refuses_containers_outside_the_allow_list(clips):
    with pytest.raises(MediaError, match="could not be read"):
        read_pcm(clips[0].wav, 0.0, 1.0)  # WAV is not one of the video demuxers we open


def test_read_pcm_says_when_a_video_has_no_sound(tmp_path):
    with pytest.raises(MediaError, match="has no sound"):
        read_pcm(media.video_only(tmp_path / "silent.mp4", seconds=2), 0.0, 1.0)


def test_read_pcm_stops_when_cancelled(h264_file):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        read_pcm(h264_file, 0.0, 5.0, cancel=stop)


def test_read_pcm_refuses_to_hold_more_than_an_interval(h264_file):
    with pytest.raises(ValueError):
        read_pcm(h264_file, 0.0, 3600.0)


@pytest.fixture
def fresh_cache(tmp_path):
    """A model cache of its own (145 MB), removed after the test so tmp does not fill up."""
    cache = tmp_path / "whisper-base"
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


def test_it_joins_the_model_once_and_reuses_it(fresh_cache, monkeypatch):
    calls = {"join": 0, "hash": 0}
    join, sha256 = whisper_model._join_parts, whisper_model._sha256

    def counting_join(*args):
        calls["join"] += 1
        return join(*args)

    def counting_sha256(*args):
        calls["hash"] += 1
        return sha256(*args)

    monkeypatch.setattr(whisper_model, "_join_parts", counting_join)
    monkeypatch.setattr(whisper_model, "_sha256", counting_sha256)

    folder = whisper_model.bundled_model(fresh_cache)
    assert calls == {"join": 1, "hash": 0}  # hashed while joining, not read back a second time
    assert sorted(p.name for p in fresh_cache.iterdir() if not p.name.startswith(".")) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    before = (fresh_cache / "model.bin").stat()

    again = whisper_model.bundled_model(fresh_cache)
    assert again == folder
    assert calls == {"join": 1, "hash": 0}  # the stamp matched: no re-join, no 145 MB re-hash
    after = (fresh_cache / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not list(fresh_cache.glob("*.tmp"))


def test_it_refuses_a_corrupted_model_file_and_rebuilds_the_cache(fresh_cache, clips):
    folder = whisper_model.bundled_model(fresh_cache)
    model_bin = fresh_cache / "model.bin"
    with model_bin.open("r+b") as f:  # flip one byte in the middle of the weights
        f.seek(model_bin.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))

    with pytest.raises(ModelError, match="damaged or is not the Whisper base model") as refused:
        whisper_model.verify_model_file(model_bin)
    assert whisper_model.BUNDLED_SHA256 in refused.value.detail
    # The engine checks again right before loading, so a file changed after `resolve` is never loaded.
    with pytest.raises(ModelError, match="damaged"):
        WhisperEngine(folder).transcribe(clips[0].pcm(), 0.0)

    # Preparing the model again rebuilds it from the installed parts.
    whisper_model.bundled_model(fresh_cache)
    whisper_model.verify_model_file(model_bin)


def test_it_refuses_parts_that_do_not_join_into_the_shipped_model(fresh_cache, monkeypatch):
    monkeypatch.setattr(whisper_model, "BUNDLED_SHA256", "0" * 64)  # as if the installed parts were foreign
    with pytest.raises(ModelError, match="do not join into the model we ship"):
        whisper_model.bundled_model(fresh_cache)
    assert not (fresh_cache / "model.bin").exists()
    assert not list(fresh_cache.glob("*.tmp"))


def test_it_refuses_a_foreign_model_file(tmp_path):
    foreign = tmp_path / "model.bin"
    foreign.write_bytes(b"\0" * 4096)
    with pytest.raises(ModelError, match="is not the Whisper base model we ship") as refused:
        whisper_model.verify_model_file(foreign)
    assert str(foreign) in refused.value.message
    with pytest.raises(ModelError, match="missing"):
        whisper_model.verify_model_file(tmp_path / "nothing.bin")


def test_a_users_own_model_folder_is_taken_as_it_is_but_needs_model_bin(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        whisper_model.resolve(cache_dir=tmp_path / "cache", user_folder=tmp_path / "nowhere")
    own = tmp_path / "whisper-small"
    own.mkdir()
    (own / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelError, match="has no model.bin"):
        whisper_model.resolve(cache_dir=tmp_path / "cache", user_folder=own)
    (own / "model.bin").write_bytes(b"their weights")
    folder = whisper_model.resolve(cache_dir=tmp_path / "cache", user_folder=own)
    assert folder == whisper_model.ModelFolder(path=own, name="whisper:whisper-small", sha256=None)
    assert not (tmp_path / "cache").exists()  # the bundled model was not prepared for nothing
    engine = WhisperEngine(folder)
    assert engine.source == "asr:whisper:whisper-small"
    with pytest.raises(ModelError, match="could not be loaded"):
        engine.transcribe(np.zeros(SAMPLE_RATE, np.float32), 0.0)
