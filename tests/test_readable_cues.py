"""Commentary subtitles sized like ordinary subtitles: at most two lines of 42 characters a cue."""

from __future__ import annotations

import pytest

from media_pipeline.transcript.subtitles import parse_cues, readable_cues, to_vtt
from media_pipeline.transcript.types import Segment

LONG = (
    "You can hear: Second, write the test first, because a bug found early costs ten times less to fix. "
    "Someone says: Third, keep every page fast on a phone. It touches on small."
)


def test_a_long_sentence_becomes_cues_of_two_short_lines_in_its_time():
    cues = readable_cues([Segment(start=10.0, end=22.0, text=LONG)])
    assert len(cues) == 3  # 173 characters: five lines, shown two at a time
    for cue in cues:
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= 2 and all(len(line) <= 42 for line in lines), cue.text
    # Nothing lost, nothing reordered; the time is shared without gaps, longer text staying up longer.
    assert " ".join(c.text.replace("\n", " ") for c in cues) == LONG
    assert cues[0].start == 10.0 and cues[-1].end == 22.0
    assert all(a.end == b.start for a, b in zip(cues, cues[1:], strict=False))
    per_char = [(c.end - c.start) / len(c.text) for c in cues]
    assert per_char == pytest.approx([per_char[0]] * len(cues))


def test_a_short_cue_stays_as_it_was_and_empty_ones_go():
    cues = readable_cues([Segment(0, 2, "A voice comes in."), Segment(2, 3, "   ")])
    assert [(c.start, c.end, c.text) for c in cues] == [(0, 2, "A voice comes in.")]


def test_the_cues_read_back_as_webvtt():
    vtt = to_vtt(readable_cues([Segment(start=0.0, end=12.0, text=LONG)]))
    parsed, _ = parse_cues(vtt)
    assert len(parsed) == 3 and all(s.text.count("\n") <= 1 for s in parsed)
