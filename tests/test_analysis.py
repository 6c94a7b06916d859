"""Interval analysis on real generated media (tests/analysis_media.py): cuts, loud passages, silences,
speech and keywords, the score, and the speed budget.

Tolerances, and why:
- cuts ±0.5 s: only keyframes are decoded, so a cut is found at the keyframe x264 put on it (exact for
  these files), and the keyframe-only design allows half a second;
- loud passages and silences ±0.2 s at each edge: 100 ms windows, plus AAC's pre-echo around a hard
  change in level (measured: a silence after loud noise starts ~0.1 s late);
- the tone's level ±1.5 dB of its nominal −33.1 dBFS (AAC at 96k and resampling to 16 kHz).
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from media_pipeline.analysis import (
    Event,
    KeywordContext,
    SignalAnalysis,
    analyse_signal,
    events_for,
)
from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.plan import Interval
from media_pipeline.probe import Limits, probe
from media_pipeline.transcript.types import Segment, Word

from . import analysis_media as am

CUT_TOL = 0.5
EDGE_TOL = 0.2
TONE_DB = -33.1


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    both = am.scenes_file(d / "scenes.mp4")
    return {
        "both": both,
        "video": am.scenes_file(d / "video_only.mp4", audio=False),
        "audio": am.scenes_file(d / "audio_only.m4a", video=False),
        "info": probe(both, limits=Limits()),
    }


def analyse(files, start: float, end: float, *, kind: str = "both", index: int = 0) -> SignalAnalysis:
    src = files[kind]
    info = probe(src, limits=Limits()) if kind == "video" else files["info"]
    if kind == "audio":
        info = am.audio_only_info(src)
    return analyse_signal(src, info, Interval(index, start, end, True))


def near(found: list[float], expected: list[float], tol: float) -> bool:
    return len(found) == len(expected) and all(abs(a - b) <= tol for a, b in zip(found, expected, strict=True))


def test_it_finds_the_hard_cuts_and_ignores_periodic_keyframes(files):
    signal = analyse(files, 0, am.DURATION)
    assert near([c.t for c in signal.cuts], am.CUTS, CUT_TOL), signal.cuts
    # The keyframes at 10 s (moving shot) and 34 s (still picture) are x264's periodic ones, not cuts.
    assert signal.keyframes == len(am.CUTS) + len(am.PERIODIC_KEYFRAMES) + 1
    assert all(0 < c.strength <= 1 for c in signal.cuts)


def test_a_cut_belongs_to_the_interval_it_falls_in(files):
    # Interval boundaries at 12 and 24 are cuts themselves: each is reported once, by the later interval,
    # because the keyframe before an interval is decoded as the reference for its first keyframe.
    first, second, third = (analyse(files, a, b, index=i) for i, (a, b) in enumerate([(0, 12), (12, 24), (24, 36)]))
    assert first.cuts == []
    assert near([c.t for c in second.cuts], [12, 16, 20], CUT_TOL)
    assert near([c.t for c in third.cuts], [24], CUT_TOL)


def test_it_finds_loud_passages_and_silences_with_video_times(files):
    signal = analyse(files, 2, 30)
    assert near([p.start for p in signal.loud], [a for a, _ in am.LOUD], EDGE_TOL), signal.loud
    assert near([p.end for p in signal.loud], [b for _, b in am.LOUD], EDGE_TOL), signal.loud
    # The second silence runs past the interval: it is clipped to the interval's end.
    assert near([p.start for p in signal.silences], [7, 24], EDGE_TOL), signal.silences
    assert near([p.end for p in signal.silences], [10, 30], EDGE_TOL), signal.silences
    assert all(p.level_db > -15 for p in signal.loud)
    assert len(signal.levels_db) == pytest.approx(280, abs=1)  # 28 s of 100 ms windows
    assert signal.peak_db > -15 and signal.median_db == pytest.approx(TONE_DB, abs=1.5)


def test_levels_are_calibrated_dbfs(files):
    tone = analyse(files, 0.5, 3.5)
    assert tone.mean_db == pytest.approx(TONE_DB, abs=1.5)
    assert tone.loud == [] and tone.silences == []
    silent = analyse(files, 25, 35)
    assert silent.peak_db is not None and silent.peak_db <= -90
    assert silent.silences and silent.silences[0].duration == pytest.approx(10, abs=EDGE_TOL)


@pytest.mark.parametrize(
    "name, args",
    [
        # MPEG-4 Part 2 decoders ignore -skip_frame: keyframes are copied out first. A keyframe every 12
        # frames, so cuts land within half a second whatever the encoder's scene detection.
        ("mpeg4.avi", ["-c:v", "mpeg4", "-q:v", "5"]),
        # MPEG-TS has no keyframe index (seeks land near a timestamp) and starts at 1.4 s + an offset.
        ("mpeg4.ts", ["-c:v", "mpeg4", "-q:v", "5", "-output_ts_offset", "3", "-f", "mpegts"]),
    ],
)
def test_it_finds_cuts_in_codecs_that_cannot_skip_frames(files, tmp_path, name, args):
    src = am.reencode(files["video"], tmp_path / name, *args)
    info = probe(src, limits=Limits())
    assert info.video_codec == "mpeg4"
    for start, end, expected in [(0, 12, []), (12, 24, [12, 16, 20]), (13, 30, [16, 20, 24])]:
        signal = analyse_signal(src, info, Interval(0, start, end, False))
        assert near([c.t for c in signal.cuts], expected, CUT_TOL), (start, end, signal.cuts)


def test_it_works_on_a_video_without_sound(files):
    signal = analyse(files, 0, am.DURATION, kind="video")
    assert signal.has_video and not signal.has_audio
    assert near([c.t for c in signal.cuts], am.CUTS, CUT_TOL)
    assert signal.levels_db == [] and signal.mean_db is None and signal.loud == [] and signal.silences == []
    analysis = events_for(signal, [])
    assert analysis.silence_ratio == 0 and analysis.mean_db is None and analysis.score > 0
    json.dumps(analysis.as_dict())


def test_it_works_on_sound_without_video(files):
    signal = analyse(files, 0, am.DURATION, kind="audio")
    assert signal.has_audio and not signal.has_video
    assert signal.cuts == [] and signal.keyframes == 0
    assert near([p.start for p in signal.loud], [a for a, _ in am.LOUD], EDGE_TOL)
    assert near([p.start for p in signal.silences], [a for a, _ in am.SILENCES], EDGE_TOL)
    assert "scene" not in events_for(signal, []).reason


def test_a_loud_cut_heavy_interval_outranks_steady_talk_which_outranks_a_static_silent_one(files, tmp_path):
    busy = events_for(analyse(files, 0, 24), [])
    still = events_for(analyse(files, 24.5, 36), [])
    talk_file, segments = am.talk_file(tmp_path / "talk.mp4")
    info = probe(talk_file, limits=Limits())
    context = KeywordContext()
    context.update(segments)
    talk = events_for(
        analyse_signal(talk_file, info, Interval(0, 0, info.duration, True)), segments, keywords_context=context
    )
    for name, a in (("busy", busy), ("talk", talk), ("still", still)):
        print(f"score {name}: {a.score} ({a.reason})")
    assert busy.score > talk.score > still.score
    assert 20 <= talk.score <= 60, "steady talk should score in the middle"
    assert still.score <= 5 and "silent" in still.reason
    assert busy.score >= 40 and "3 scene changes" in busy.reason and "loud at 0:04" in busy.reason
    # The talk: no cuts, speech nearly throughout, its topic words as keywords, no loud passages.
    assert talk.scene_changes == 0 and talk.speech_ratio > 0.85 and talk.loud_seconds == 0
    assert talk.keywords[0] == "parser" and "syntax" in talk.keywords
    assert [e.kind for e in talk.events if e.kind.startswith("speech")] == ["speech_start"]
    first = busy.as_dict()["events"][0]
    assert first["kind"] == "loud" and first["t"] == pytest.approx(4, abs=EDGE_TOL)
    assert first["end"] == pytest.approx(7, abs=EDGE_TOL) and first["value"] == pytest.approx(-10, abs=2)
    assert re.fullmatch(r"Loud passage, \u2212\d+ dBFS", first["label"])
    json.dumps(busy.as_dict())


def test_it_analyses_30_s_of_720p30(tmp_path):
    # The speed figure is printed (and measured by bench.commentary); a wall-clock bound here would only
    # measure how busy the machine is.
    src = am.bench_720p(tmp_path / "bench.mp4", seconds=40)
    info = probe(src, limits=Limits())
    started = time.monotonic()
    signal = analyse_signal(src, info, Interval(0, 5, 35, True))
    elapsed = time.monotonic() - started
    print(f"analyse_signal, 30 s of 720p30 H.264 (2 s GOP) + AAC: {elapsed:.3f} s, {signal.keyframes} keyframes")
    assert signal.keyframes == 15 and len(signal.levels_db) == 300


def test_it_stops_when_cancelled(files):
    class SetAfter:
        """Not set for the first `n` checks (the two ffmpeg runs start), set from then on."""

        def __init__(self, n: int) -> None:
            self.n = n
            self.lock = threading.Lock()

        def is_set(self) -> bool:
            with self.lock:
                self.n -= 1
                return self.n < 0

    now = threading.Event()
    now.set()
    with pytest.raises(Cancelled):
        analyse_signal(files["both"], files["info"], Interval(0, 0, 36, True), cancel=now)
    # Cancelled while ffmpeg ran (or just after it finished): no result comes back.
    with pytest.raises(Cancelled):
        analyse_signal(files["both"], files["info"], Interval(0, 0, 36, True), cancel=SetAfter(3))


def test_a_damaged_file_is_a_sentence_not_a_traceback(files, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(files["both"].read_bytes()[:2000])
    with pytest.raises(MediaError) as caught:
        analyse_signal(broken, files["info"], Interval(0, 0, 36, True))
    assert caught.value.message.startswith("We could not read the video between 0:00 and 0:36")
    assert "ffmpeg exited" in caught.value.detail


# --- transcript events, no media needed ----------------------------------------------------------------


def signal_of(start: float, end: float, **kw) -> SignalAnalysis:
    return SignalAnalysis(index=0, start=start, end=end, has_video=True, has_audio=True, **kw)


def test_speech_starts_and_stops_at_pauses_of_one_and_a_half_seconds():
    segments = [
        Segment(1.0, 5.0, "First we warm up."),
        Segment(5.5, 8.0, "Then a short pause is not a stop."),  # 0.5 s gap: the same run
        Segment(12.0, 15.0, "After four seconds, speech starts again."),
    ]
    events = events_for(signal_of(0, 20), segments).events
    speech = [(e.kind, e.t) for e in events if e.kind.startswith("speech")]
    assert speech == [("speech_start", 1.0), ("speech_stop", 8.0), ("speech_start", 12.0), ("speech_stop", 15.0)]
    assert all(isinstance(e, Event) and e.label in ("Speech starts", "Speech stops") for e in events)


def test_speech_is_not_said_to_stop_where_the_known_words_end():
    # The first interval's commentary may be written from its first 8 s of words: speech running up to 8 s has
    # not stopped there, it is only not transcribed yet. A stop before a proven pause still counts.
    segments = [Segment(0.5, 3.0, "Hello and welcome back."), Segment(5.0, 7.9, "Today I want to show you")]

    def speech(**kw: float) -> list[tuple[str, float]]:
        return [(e.kind, e.t) for e in events_for(signal_of(0, 30), segments, **kw).events if "speech" in e.kind]

    assert ("speech_stop", 7.9) in speech()
    assert speech(words_until=8.0) == [
        ("speech_start", 0.5),
        ("speech_stop", 3.0),
        ("speech_start", 5.0),
    ]


def test_speech_at_an_interval_edge_is_reported_only_when_the_pause_is_known():
    # Nothing is known before 30 s, so speech at 30.5 s may have run on from the previous interval.
    inside = [Segment(30.5, 40.0, "carried on from before"), Segment(40.5, 58.9, "and runs to the end")]
    speech = [e.kind for e in events_for(signal_of(30, 60), inside).events if e.kind.startswith("speech")]
    assert speech == []
    # Given the segment before (and after), the pauses are known: a start, and a stop before a 3 s pause.
    known = [Segment(20.0, 28.0, "before"), *inside, Segment(62.0, 65.0, "after")]
    events = events_for(signal_of(30, 60), known).events
    assert [(e.kind, e.t) for e in events if e.kind.startswith("speech")] == [
        ("speech_start", 30.5),
        ("speech_stop", 58.9),
    ]


def test_keywords_are_ranked_against_the_whole_transcript_so_far():
    earlier = [Segment(i * 5.0, i * 5.0 + 4, f"Python is great, python number {i} is fine.") for i in range(10)]
    here = [
        Segment(60.0, 64.0, "Python decorators wrap a function."),
        Segment(64.0, 68.0, "A decorator returns a new function; decorators compose."),
        Segment(68.0, 72.0, "Python python python."),
    ]
    context = KeywordContext()
    context.update(earlier + here)
    context.update(earlier + here)  # a repeated update counts nothing twice
    assert context.documents == 13
    ranked = events_for(signal_of(60, 90), here, keywords_context=context).keywords
    assert ranked.index("function") < ranked.index("python")
    # Without the context, raw counts win: "python" is said most often here.
    assert events_for(signal_of(60, 90), here).keywords[0] == "python"


def test_keyword_events_use_word_timings_and_video_times():
    words = tuple(
        Word(100 + i * 0.5, 100.4 + i * 0.5, w) for i, w in enumerate("what a goal that goal was the goal".split())
    )
    analysis = events_for(signal_of(90, 120), [Segment(100, 104, " ".join(w.text for w in words), words=words)])
    goal = next(e for e in analysis.events if e.kind == "keyword")
    assert goal.label == "Keyword \u201cgoal\u201d" and goal.t == pytest.approx(101.0) and goal.value == 3
    assert analysis.keywords == ["goal"] and "keywords goal" in analysis.reason
    assert analysis.words_per_second == pytest.approx(8 / 4, abs=0.01)


def test_stopwords_and_filler_are_never_keywords():
    text = "So um you know, I think that we really really just wanted to say that, you know, okay okay."
    assert events_for(signal_of(0, 30), [Segment(0, 10, text)]).keywords == []
