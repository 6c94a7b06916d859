"""Subtitles in and out: SRT/WebVTT parsing (forgiving), writing SRT/VTT/TXT, and text subtitle streams
inside a media file."""

from __future__ import annotations

import html
import json
import re
import textwrap
from pathlib import Path

from ..errors import MediaError
from ..probe import input_options
from ..process import CancelToken, ProcessFailed, run
from .types import Segment, Transcript

# Subtitle codecs that carry text (bitmap ones such as dvd_subtitle or hdmv_pgs_subtitle would need OCR).
TEXT_SUBTITLE_CODECS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
CUE_TIMING = re.compile(rf"^\s*{TIMESTAMP}\s*-->\s*{TIMESTAMP}")
# <i>, <c.color>, <00:01.000> and ASS {\an8} overrides. A tag cannot contain its own opener: with `<[^>]*>` every
# `<` of an unclosed run scanned to the end of the text, so 300 KB of "<" took half a minute (quadratic).
TAG = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")
# A cue is a line or two on screen; anything longer is junk or an attack, and it would swamp a prompt or a caption.
MAX_CUE_CHARS = 2000


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def _clean(text: str) -> str:
    return html.unescape(TAG.sub("", text)).replace("\u200b", "").strip()


def _cap(text: str) -> str:
    """`text` cut to MAX_CUE_CHARS, at a space when there is one near the end, with an ellipsis."""
    if len(text) <= MAX_CUE_CHARS:
        return text
    cut = text[: MAX_CUE_CHARS - 1]
    space = cut.rfind(" ", MAX_CUE_CHARS // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def parse_cues(text: str) -> tuple[list[Segment], int]:
    """Cues from SRT or WebVTT text, in time order, and how many blocks were skipped as malformed.

    Both formats are blank-line separated blocks with a `start --> end` line; what comes before that
    line (an SRT number, a VTT cue id) is ignored and what follows is the text. Blocks without a timing
    line (the WEBVTT header, NOTE, STYLE, REGION, junk) are skipped; so are cues that end before they start.
    A cue's text is cut to MAX_CUE_CHARS. Time is linear in the length of `text`, whatever it holds.
    """
    text = text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")
    segments: list[Segment] = []
    skipped = 0
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        timing_at = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing_at is None:
            if lines and not lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
                skipped += 1
            continue
        match = CUE_TIMING.match(lines[timing_at])
        if not match:
            skipped += 1
            continue
        start = _seconds(*match.groups()[:4])
        end = _seconds(*match.groups()[4:])
        body = _clean(" ".join(lines[timing_at + 1 :]))
        if end <= start:
            skipped += 1
            continue
        if body:
            segments.append(Segment(start=start, end=end, text=_cap(re.sub(r"\s+", " ", body))))
    segments.sort(key=lambda s: (s.start, s.end))
    return segments, skipped


def parse_subtitle_file(data: bytes, *, source: str) -> Transcript:
    """A transcript from an uploaded .srt/.vtt file. Raises MediaError when nothing usable is in it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # old SRT files are often Windows-1252
    segments, skipped = parse_cues(text)
    if not segments:
        raise MediaError(
            "The subtitle file has no cues we can read. It should be SRT or WebVTT, with lines like "
            "“00:00:01,000 --> 00:00:04,000”.",
            detail=f"{skipped} malformed blocks, {len(data)} bytes",
        )
    notes = [f"{skipped} malformed subtitle block(s) were skipped."] if skipped else []
    return Transcript(segments=segments, source=source, notes=notes)


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[Segment]) -> str:
    return "".join(
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n\n" for i, s in enumerate(segments, 1)
    )


# Subtitle lines as broadcasters set them: at most 42 characters, at most two lines on screen.
LINE_CHARS = 42
CUE_LINES = 2


def readable_cues(segments: list[Segment], *, line_chars: int = LINE_CHARS, lines: int = CUE_LINES) -> list[Segment]:
    """Cues a viewer can read: each segment's text wrapped at `line_chars`, then shown `lines` lines at a time,
    the segment's time shared between its cues by their length (a commentary sentence can run to 300
    characters, which as one cue covers a quarter of the picture)."""
    out: list[Segment] = []
    for seg in segments:
        wrapped = textwrap.wrap(seg.text.strip(), width=line_chars, break_long_words=True, break_on_hyphens=False)
        if not wrapped:
            continue
        groups = ["\n".join(wrapped[i : i + lines]) for i in range(0, len(wrapped), lines)]
        total = sum(len(g) for g in groups)
        at = seg.start
        for n, text in enumerate(groups):
            end = seg.end if n == len(groups) - 1 else at + (seg.end - seg.start) * len(text) / total
            out.append(Segment(start=at, end=end, text=text))
            at = end
    return out


def to_vtt(segments: list[Segment]) -> str:
    # A cue's text must not contain "-->"; escape what WebVTT treats as markup.
    cues = "".join(
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n"
        f"{s.text.strip().replace('&', '&amp;').replace('<', '&lt;').replace('-->', '->')}\n\n"
        for s in segments
    )
    return "WEBVTT\n\n" + cues


def to_txt(segments: list[Segment]) -> str:
    return "\n".join(s.text.strip() for s in segments if s.text.strip()) + "\n"


def embedded_subtitle_streams(path: Path, *, ffprobe: str = "ffprobe", cancel: CancelToken | None = None) -> list[dict]:
    """Text subtitle streams in the file, English (or untagged) first."""
    argv = [
        ffprobe,
        "-v",
        "error",
        "-format_whitelist",
        input_options()["format_whitelist"],
        "-protocol_whitelist",
        input_options()["protocol_whitelist"],
        "-select_streams",
        "s",
        "-show_entries",
        "stream=index,codec_name:stream_tags=language,title",
        "-of",
        "json",
        f"file:{path}",
    ]
    streams = json.loads(run(argv, timeout=30, cancel=cancel, what="ffprobe").stdout or b"{}").get("streams", [])
    text_streams = [s for s in streams if s.get("codec_name") in TEXT_SUBTITLE_CODECS]

    def rank(stream: dict) -> int:
        language = (stream.get("tags") or {}).get("language", "und").lower()
        return 0 if language in ("eng", "en") else 1 if language in ("und", "") else 2

    return sorted(text_streams, key=rank)


def extract_embedded(
    path: Path, *, ffmpeg_bin: str = "ffmpeg", ffprobe: str = "ffprobe", cancel: CancelToken | None = None
) -> Transcript | None:
    """The best text subtitle stream inside the file as a transcript, or None when there is none."""
    streams = embedded_subtitle_streams(path, ffprobe=ffprobe, cancel=cancel)
    if not streams:
        return None
    stream = streams[0]
    opts = input_options()
    argv = [
        ffmpeg_bin,
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-format_whitelist",
        opts["format_whitelist"],
        "-protocol_whitelist",
        opts["protocol_whitelist"],
        "-i",
        f"file:{path}",
        "-map",
        f"0:{stream['index']}",
        "-f",
        "webvtt",
        "pipe:1",
    ]
    try:
        out = run(argv, timeout=120, cancel=cancel, what="ffmpeg").stdout
    except ProcessFailed as exc:
        raise MediaError("The subtitles inside the file could not be read.", detail=exc.detail) from None
    segments, skipped = parse_cues(out.decode("utf-8", errors="replace"))
    if not segments:
        return None
    language = (stream.get("tags") or {}).get("language", "und")
    return Transcript(
        segments=segments,
        language="en" if language in ("eng", "en") else language,
        source="subtitles:embedded",
        notes=[f"From subtitle stream {stream['index']} ({stream['codec_name']}, language {language})."],
    )


def subtitle_problem(data: bytes, *, source: str) -> str | None:
    """The sentence that refuses this subtitle file, or None when it is usable. Plain values in and out, so it
    can run in another process (a 5 MB file takes seconds of pure-Python parsing; see ops.offload)."""
    try:
        parse_subtitle_file(data, source=source)
    except MediaError as exc:
        return exc.message
    return None
