"""Subtitle parsing (forgiving, with malformed input), writing, and streams inside media files."""

from __future__ import annotations

import pytest

from media_pipeline.errors import MediaError
from media_pipeline.transcript.subtitles import (
    MAX_CUE_CHARS,
    extract_embedded,
    parse_cues,
    parse_subtitle_file,
    to_srt,
    to_txt,
    to_vtt,
)

from . import media

SRT = """\ufeff1\r
00:00:01,000 --> 00:00:03,500\r
Hello <i>there</i>,\r
general Kenobi.\r
\r
2\r
00:00:04,000 --> 00:00:06,000\r
Second &amp; last\r
"""

VTT = """WEBVTT - a title

NOTE this is a comment
spanning two lines

STYLE
::cue { color: red }

intro
00:01.000 --> 00:03.500 align:start position:10%
<v Speaker>Hello</v> <c.loud>there</c>

00:00:04.000 --> 00:00:06.000
Second line
"""


def test_it_reads_srt_with_bom_crlf_tags_and_entities():
    segments, skipped = parse_cues(SRT)
    assert skipped == 0
    assert [(s.start, s.end, s.text) for s in segments] == [
        (1.0, 3.5, "Hello there, general Kenobi."),
        (4.0, 6.0, "Second & last"),
    ]


def test_it_reads_webvtt_with_header_notes_styles_ids_and_settings():
    segments, skipped = parse_cues(VTT)
    assert skipped == 0
    assert [(s.start, s.end, s.text) for s in segments] == [(1.0, 3.5, "Hello there"), (4.0, 6.0, "Second line")]


def test_it_skips_malformed_blocks_and_says_so():
    broken = (
        SRT
        + "\n3\n00:00:07,000 -> 00:00:08,000\nbad arrow\n\n4\n00:00:09,000 --> 00:00:08,000\nbackwards\n\nstray text\n"
    )
    transcript = parse_subtitle_file(broken.encode(), source="subtitles:sidecar")
    assert len(transcript.segments) == 2
    assert transcript.notes == ["3 malformed subtitle block(s) were skipped."]


def test_a_cue_longer_than_the_cap_is_cut_at_a_word():
    words = "word " * 1000
    segments, _ = parse_cues(f"1\n00:00:01,000 --> 00:00:02,000\n{words}\n\n2\n00:00:03,000 --> 00:00:04,000\nshort\n")
    assert [len(s.text) <= MAX_CUE_CHARS for s in segments] == [True, True]
    assert segments[0].text.endswith("word\u2026") and len(segments[0].text) > MAX_CUE_CHARS - 10
    assert segments[1].text == "short"


def test_a_file_with_no_cues_is_refused_with_a_sentence():
    with pytest.raises(MediaError, match="no cues we can read"):
        parse_subtitle_file(b"\x00\x01 not subtitles at all", source="subtitles:sidecar")


def test_windows_1252_files_are_read():
    data = "1\n00:00:01,000 --> 00:00:02,000\nCafé crème\n".encode("cp1252")
    assert parse_subtitle_file(data, source="x").segments[0].text == "Café crème"


def test_srt_and_vtt_round_trip_and_text_is_escaped_in_vtt():
    segments, _ = parse_cues(SRT)
    assert parse_cues(to_srt(segments))[0] == segments
    vtt = to_vtt(segments)
    assert vtt.startswith("WEBVTT\n\n") and "Second &amp; last" in vtt
    assert parse_cues(vtt)[0] == segments
    assert to_txt(segments) == "Hello there, general Kenobi.\nSecond & last\n"


def test_hostile_cue_text_cannot_break_out_of_vtt():
    evil, _ = parse_cues("1\n00:00:01,000 --> 00:00:02,000\n&lt;script&gt;x --> 00:00:09.000\n")
    vtt = to_vtt(evil)
    assert "<script>" not in vtt
    assert len(parse_cues(vtt)[0]) == 1


@pytest.mark.parametrize("container, codec", [("mp4", "mov_text"), ("mkv", "srt")])
def test_it_extracts_a_subtitle_stream_from_the_file(tmp_path, h264_file, container, codec):
    subs = tmp_path / "subs.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,500\nInside the file\n\n2\n00:00:03,000 --> 00:00:04,000\nTwo\n")
    out = tmp_path / f"with-subs.{container}"
    media.ffmpeg(
        "-i",
        str(h264_file),
        "-i",
        str(subs),
        "-map",
        "0",
        "-map",
        "1",
        "-c",
        "copy",
        "-c:s",
        codec,
        "-metadata:s:s:0",
        "language=eng",
        str(out),
    )
    transcript = extract_embedded(out)
    assert transcript is not None and transcript.source == "subtitles:embedded" and transcript.language == "en"
    assert [s.text for s in transcript.segments] == ["Inside the file", "Two"]
    # Matroska shifts the whole file by the audio encoder's priming (~23 ms): times stay within that.
    times = [t for s in transcript.segments for t in (s.start, s.end)]
    assert times == pytest.approx([1.0, 2.5, 3.0, 4.0], abs=0.05)


def test_a_file_without_subtitles_gives_none(h264_file):
    assert extract_embedded(h264_file) is None
