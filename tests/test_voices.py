"""Who speaks: a change of voice pitch in real espeak-ng speech (two voices of different pitch taking turns)
becomes a voice_change event of the interval analysis, and the offline commentary says a new voice takes over;
one voice throughout says nothing of the kind. Real ffmpeg decodes the audio as the app does."""

from __future__ import annotations

import re

import numpy as np
import pytest

from media_pipeline.analysis import KeywordContext, events_for
from media_pipeline.analysis.signal import analyse_signal
from media_pipeline.analysis.voices import pitch_track, voice_stretches
from media_pipeline.commentary import CommentaryMemory, offline_commentary
from media_pipeline.plan import Interval
from media_pipeline.probe import Limits, probe

from . import analysis_media as am

LOW = ["-v", "en-us", "-p", "15", "-s", "160"]
HIGH = ["-v", "en-us+f3", "-p", "75", "-s", "160"]
LINES = [
    (LOW, "Welcome back to the workshop on compilers."),
    (LOW, "Today we look at how a parser turns tokens into a syntax tree."),
    (HIGH, "So what happens when the tokens do not match any rule?"),
    (HIGH, "Does the parser just give up on the whole file?"),
    (LOW, "No, the parser reports a syntax error and keeps going."),
]
NEW_VOICE = re.compile(r"new voice|someone else|another speaker|second voice|different voice", re.I)
BACK = re.compile(r"earlier voice|first voice|earlier speaker|other speaker returns", re.I)


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory):
    path, segments = am.dialogue_file(tmp_path_factory.mktemp("voices") / "dialogue.mp4", LINES)
    return path, probe(path, limits=Limits()), segments


def analysed(path, info, segments, start, end, index=0):
    context = KeywordContext()
    context.update(segments)
    signal = analyse_signal(path, info, Interval(index, start, end, start <= 0))
    return signal, events_for(signal, segments, keywords_context=context)


def test_the_two_voices_pitches_are_told_apart(dialogue):
    path, info, segments = dialogue
    signal, _ = analysed(path, info, segments, 0, info.duration)
    assert len(signal.pitch_hz) == len(signal.levels_db)
    stretches = voice_stretches(signal.pitch_hz, start=0, speech=[(s.start, s.end) for s in segments])
    assert len(stretches) == len(LINES)
    low = [s.hz for s, (voice, _) in zip(stretches, LINES, strict=True) if voice is LOW]
    high = [s.hz for s, (voice, _) in zip(stretches, LINES, strict=True) if voice is HIGH]
    assert max(low) < 140 < min(high), stretches
    assert max(low) / min(low) < 1.15 and max(high) / min(high) < 1.15  # one voice is steady
    # A pure tone has one pitch, silence none.
    rate = 16_000
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 180 * np.arange(rate) / rate)).astype(np.int16)
    assert np.allclose(pitch_track(tone)[1:-1], 180, rtol=0.02)
    assert not pitch_track(np.zeros(rate, dtype=np.int16)).any()


def test_a_new_voice_is_an_event_and_the_commentary_says_so(dialogue):
    path, info, segments = dialogue
    _, analysis = analysed(path, info, segments, 0, info.duration)
    changes = analysis.events_of("voice_change")
    assert [round(e.t, 1) for e in changes] == [round(segments[2].start, 1), round(segments[4].start, 1)], changes
    assert changes[0].label == "Another voice, higher" and changes[0].value > 150  # the high voice's Hz
    assert changes[1].label == "Another voice, lower" and changes[1].value < 140
    text = offline_commentary(analysis, segments, style="play-by-play", budget=60, memory=CommentaryMemory())
    # The high voice is new; the low one coming back is not called new.
    assert len(NEW_VOICE.findall(text)) == 1 and BACK.search(text), text
    assert text.index("8 seconds") < text.index("15 seconds")


def test_a_voice_taking_over_at_an_interval_boundary_is_said_in_the_next_interval(dialogue):
    path, info, segments = dialogue
    cut = segments[2].start - 0.2  # the second interval starts as the high voice does
    memory = CommentaryMemory()
    _, first = analysed(path, info, segments, 0, cut)
    _, second = analysed(path, info, segments, cut, segments[3].end + 0.2, index=1)
    assert not first.events_of("voice_change") and not second.events_of("voice_change")
    offline_commentary(first, segments, style="play-by-play", budget=40, memory=memory)
    text = offline_commentary(second, segments, style="play-by-play", budget=40, memory=memory)
    assert NEW_VOICE.search(text), text


def test_one_voice_throughout_is_never_a_new_voice(tmp_path):
    path, segments = am.talk_file(tmp_path / "talk.mp4")
    info = probe(path, limits=Limits())
    _, analysis = analysed(path, info, segments, 0, info.duration)
    assert analysis.events_of("voice_change") == []
    assert analysis.first_voice_hz and analysis.last_voice_hz
    text = offline_commentary(analysis, segments, style="play-by-play", budget=60, memory=CommentaryMemory())
    assert not NEW_VOICE.search(text), text
