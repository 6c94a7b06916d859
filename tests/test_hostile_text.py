"""Text from users and models is parsed in linear time, however it is built.

Each input here made one of our regexes backtrack quadratically (or worse): a few hundred KB held a worker for
minutes. The limit is CPU time used by this process (not wall time), so a busy machine cannot make it fail; a
quadratic pattern blows through it by orders of magnitude, a linear one stays far below it.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator

import pytest

from media_pipeline.commentary import fit_to_budget
from media_pipeline.commentary.llm import parse_commentary
from media_pipeline.commentary.llm import transcript_block as commentary_transcript_block
from media_pipeline.commentary.offline import tts_clean
from media_pipeline.errors import MediaError
from media_pipeline.ideas.llm import parse_json
from media_pipeline.ideas.llm import transcript_block as ideas_transcript_block
from media_pipeline.ideas.offline import _CLAUSE_RE, tidy
from media_pipeline.llm.prompting import parse_json as extract_json
from media_pipeline.transcript.subtitles import parse_cues, parse_subtitle_file
from media_pipeline.transcript.types import Segment

CPU_SECONDS = 5.0
MB = 1_000_000


class TooSlow(Exception):
    pass


@contextlib.contextmanager
def cpu_limit(seconds: float = CPU_SECONDS) -> Iterator[None]:
    """Raise TooSlow once this process has used `seconds` of CPU time (the regex engine checks for signals)."""

    def expire(signum: int, frame: object) -> None:
        raise TooSlow(f"still running after {seconds} s of CPU time")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


CUE = "1\n00:00:01,000 --> 00:00:02,000\n"


@pytest.mark.parametrize("junk", ["<", "{\\", "<i"], ids=["lt", "ass-override", "unclosed-tag"])
def test_a_5_mb_cue_of_unclosed_tags_parses_quickly(junk):
    data = (CUE + junk * (5 * MB // len(junk)) + "\n").encode()
    started = time.process_time()
    with cpu_limit():
        transcript = parse_subtitle_file(data, source="subtitles:upload")
    assert time.process_time() - started < CPU_SECONDS
    assert len(transcript.segments) == 1
    assert len(transcript.segments[0].text) <= 2000


def test_a_5_mb_file_of_lt_signs_is_refused_quickly():
    with cpu_limit(), pytest.raises(MediaError):
        parse_subtitle_file(b"<" * 5 * MB, source="subtitles:upload")


def test_a_cue_of_blank_lines_and_timings_parses_quickly():
    with cpu_limit():
        segments, _ = parse_cues(CUE + "\n \n" * MB + "00:00:01,000 --> 00:00:02,000 " * 20_000)
    assert segments == []


@pytest.mark.parametrize(
    "text",
    ["(" * MB, "<" * MB, "[" * MB, "{" * MB, "a" + "#" * MB + "b", "a" + " " * MB + "b"],
    ids=["parens", "lt", "brackets", "braces", "symbols", "spaces"],
)
def test_tts_cleaning_is_linear(text):
    with cpu_limit():
        assert tts_clean(text) in ("", "a b")


@pytest.mark.parametrize("text", ["!?" * (MB // 2) + "x", ",;" * (MB // 2) + "x"], ids=["sentence", "clause"])
def test_fitting_to_a_budget_is_linear(text):
    with cpu_limit():
        assert fit_to_budget("one two three four " + text + " five six", 3) == ""


def test_prompts_defuse_spaced_delimiters_quickly():
    # The blocks collapse whitespace before defusing, so this guards the pattern rather than a reachable slow path.
    segment = Segment(start=0.0, end=5.0, text="<" + " " * MB + "x </ transcript> < / analysis>")
    with cpu_limit():
        commentary = commentary_transcript_block([segment], 0.0, 5.0)
        ideas = ideas_transcript_block([segment], budget=10 * MB)
    assert "</ transcript>" not in commentary
    assert "< / analysis>" not in ideas and "\u2039/analysis>" in ideas


@pytest.mark.parametrize("reply", ["```" + " " * MB, "```json" + " " * MB + "x", "```" + " " * MB + "```x"])
def test_model_replies_with_unclosed_fences_are_parsed_in_linear_time(reply):
    with cpu_limit():
        with pytest.raises(ValueError):
            parse_commentary(reply)
        with pytest.raises(ValueError):
            parse_json(reply)
        with pytest.raises(ValueError):
            extract_json(reply)


def test_fenced_replies_still_parse():
    assert parse_commentary('```json\n{"commentary": "Hi."}\n```') == "Hi."
    assert parse_json('``` {"a": 1} ```') == {"a": 1}
    assert extract_json("  ```JSON\n[1, 2]\n```\n") == [1, 2]


def test_ideas_tidying_is_linear():
    with cpu_limit():
        assert tidy("[music" * (MB // 6) + " well said [Music] here") == "[music" * (MB // 6) + " well said here"
        assert _CLAUSE_RE.split("a" + " " * MB + "b , c") == ["a" + " " * MB + "b", "c"]
