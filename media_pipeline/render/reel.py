"""Cut a vertical reel (9:16 MP4) out of a source video, with short-form captions burned in.

Captions are drawn with one ffmpeg `drawtext` per caption, each reading its text from a file we write
(`textfile=`) with `expansion=none`. So caption text never passes through the filtergraph parser nor through
drawtext's `%{…}` expansion nor through an ASS parser: untrusted LLM/user text is drawn exactly as written,
and the only values we escape in the graph are our own file paths.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import MediaError
from ..files import atomic_output
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST, MediaInfo, clock
from ..process import CancelToken, ProcessFailed, ffmpeg_head, run
from ..transcript.types import Segment
from .fonts import Fonts, clean_text

if TYPE_CHECKING:  # PIL itself is imported lazily, where text is measured
    from PIL.ImageFont import FreeTypeFont

MODES = ("blur", "crop")
AUDIO_BITRATE = "128k"
CRF = "21"
# A landscape source is cropped (mode="crop") only when clearly wider than tall; square and vertical
# sources are always fitted whole, so the subject is never cut off.
CROP_MIN_ASPECT = 1.05
MAX_FPS = 60
# Caption look: ≈7 % of the height, shrunk (to 4.5 %, then further only for one very long word) to stay on
# one line inside the side margins; text centred on a line 70 % down the frame (the lower-middle third,
# above the platform's own buttons and description).
CAPTION_SIZE = 0.07
CAPTION_MIN_SIZE = 0.045
CAPTION_MARGIN = 0.08
CAPTION_CENTRE = 0.70
# A pause longer than this ends a caption group even when it has room for another word.
PAUSE_BREAK = 0.6
# A caption stays up through a gap this short, so the text does not flicker between groups.
HOLD_GAP = 0.5
MIN_SHOW = 0.3


@dataclass(frozen=True)
class Caption:
    start: float  # SOURCE seconds
    end: float
    text: str


@dataclass(frozen=True)
class ReelResult:
    path: Path
    duration: float  # measured from the written file
    width: int
    height: int
    seconds: float  # wall time spent
    size: int


# ---------------------------------------------------------------------------------------------- captions


def captions_from_words(
    words: Sequence[tuple[float, float, str]],
    *,
    start: float,
    end: float,
    max_words: int = 3,
    max_chars: int = 18,
) -> list[Caption]:
    """Group timed words into short-form captions (2–3 words each), in source seconds, clipped to [start, end].

    1. Keep the words that overlap [start, end]; clip their times to the range.
    2. Fill a group greedily; a group ends when the next word would pass `max_words` or `max_chars`
       (a single longer word stands alone), after a word ending a sentence, or at a pause > PAUSE_BREAK.
    3. A group lasts from its first word's start to its last word's end, held through short gaps to the next,
       and at least MIN_SHOW seconds where the next one leaves room.
    """
    kept: list[tuple[float, float, str]] = []
    for w_start, w_end, text in sorted(words, key=lambda w: (w[0], w[1])):
        text = " ".join(str(text).split())
        w_end = max(w_end, w_start)
        # A word cut by the range's edge is kept, clipped: it shares a caption with its neighbours anyway.
        inside = w_start < end and w_end > start if w_end > w_start else start <= w_start < end
        if not text or not inside:
            continue
        kept.append((max(w_start, start), min(w_end, end), text))

    groups: list[list[tuple[float, float, str]]] = []
    for word in kept:
        current = groups[-1] if groups else None
        if current:
            joined = " ".join(w[2] for w in current) + " " + word[2]
            ends_sentence = current[-1][2][-1] in ".!?…"
            pause = word[0] - current[-1][1]
            if len(current) < max_words and len(joined) <= max_chars and not ends_sentence and pause <= PAUSE_BREAK:
                current.append(word)
                continue
        groups.append([word])

    captions: list[Caption] = []
    for i, group in enumerate(groups):
        c_start, c_end = group[0][0], group[-1][1]
        following = groups[i + 1][0][0] if i + 1 < len(groups) else end
        if i + 1 < len(groups) and following - c_end <= HOLD_GAP:
            c_end = following
        # A caption a viewer could not read (one short word, a zero-length timing) stays up a little longer.
        c_end = max(c_end, min(c_start + MIN_SHOW, following))
        if c_end > c_start:
            captions.append(Caption(start=c_start, end=c_end, text=" ".join(w[2] for w in group)))
    return captions


def captions_from_segments(
    segments: Sequence[Segment],
    *,
    start: float,
    end: float,
    max_words: int = 3,
    max_chars: int = 18,
) -> list[Caption]:
    """Captions from a transcript: word times where a segment has them, otherwise the segment's words
    spread evenly over its duration."""
    words: list[tuple[float, float, str]] = []
    for segment in segments:
        if segment.end <= start or segment.start >= end:
            continue
        if segment.words:
            words.extend((w.start, w.end, w.text) for w in segment.words)
            continue
        tokens = segment.text.split()
        step = max(segment.end - segment.start, 0.0) / max(len(tokens), 1)
        words.extend((segment.start + i * step, segment.start + (i + 1) * step, t) for i, t in enumerate(tokens))
    return captions_from_words(words, start=start, end=end, max_words=max_words, max_chars=max_chars)


@dataclass(frozen=True)
class _Drawn:
    start: float  # CLIP seconds
    end: float
    text: str
    size: int


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> FreeTypeFont:
    from PIL import ImageFont

    # BASIC layout measures like drawtext does (FreeType advances and kerning, no shaping engine).
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def _text_width(font_path: Path, size: int, text: str) -> float:
    font = _font(str(font_path), size)
    left, _, right, _ = font.getbbox(text)
    # The outline adds its width on both sides.
    return max(right, font.getlength(text)) - min(left, 0) + 2 * _border(size)


def _border(size: int) -> int:
    return max(2, round(size * 0.08))


def _fit(text: str, *, font_path: Path, width: int, height: int) -> list[tuple[str, int, float]]:
    """Split `text` into one-line pieces that fit the frame: (text, font size, share of the caption's time).

    Shrinks from CAPTION_SIZE to CAPTION_MIN_SIZE; text still too wide is split between words into
    consecutive captions, and a single word still too wide shrinks until it fits (never overflows).
    """
    room = width * (1 - 2 * CAPTION_MARGIN)
    size = round(height * CAPTION_SIZE)
    floor = round(height * CAPTION_MIN_SIZE)
    while size > floor and _text_width(font_path, size, text) > room:
        size = max(floor, math.floor(size * 0.94))
    if _text_width(font_path, size, text) <= room:
        return [(text, size, 1.0)]
    words = text.split(" ")
    if len(words) == 1:
        while size > 8 and _text_width(font_path, size, text) > room:
            size -= 2
        return [(text, size, 1.0)]
    half = len(words) // 2
    parts = [" ".join(words[:half]), " ".join(words[half:])]
    total = len(text)
    pieces: list[tuple[str, int, float]] = []
    for part in parts:
        share = len(part) / total
        pieces.extend((t, s, f * share) for t, s, f in _fit(part, font_path=font_path, width=width, height=height))
    return pieces


def _plan_captions(
    captions: Sequence[Caption], *, start: float, end: float, font_path: Path, width: int, height: int
) -> list[_Drawn]:
    """Captions as drawn: cleaned text, clip-relative times clipped to the reel, no two on screen at once."""
    ordered = sorted(captions, key=lambda c: (c.start, c.end))
    drawn: list[_Drawn] = []
    for i, caption in enumerate(ordered):
        c_start, c_end = max(caption.start, start), min(caption.end, end)
        if i + 1 < len(ordered):
            c_end = min(c_end, max(ordered[i + 1].start, c_start))
        text = clean_text(caption.text, font_path=font_path)
        if c_end <= c_start or not text:
            continue
        at = c_start - start
        span = c_end - c_start
        for piece, size, share in _fit(text, font_path=font_path, width=width, height=height):
            drawn.append(_Drawn(start=at, end=at + span * share, text=piece, size=size))
            at += span * share
    return drawn


# ---------------------------------------------------------------------------------------------- ffmpeg


def escape_filter_value(value: str) -> str:
    """Escape a value for `key=value` inside a filtergraph (ffmpeg-filters, "Notes on filtergraph escaping"):
    first for the filter's option parser (\\ ' :), then for the graph parser (\\ ' [ ] , ;)."""
    value = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in value)


def reel_filtergraph(
    *, mode: str, width: int, height: int, fps: float, drawn: Sequence[_Drawn], textfiles: Sequence[Path], font: Path
) -> str:
    """The -filter_complex graph: framing onto a width×height canvas, then one drawtext per caption.

    The landscape-or-not decision is made on ffmpeg's own iw/ih (after autorotation of phone videos whose
    frames are stored sideways), not on the probed size, so rotated vertical videos are never cropped.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    pre = "fps=30," if fps <= 0 or fps > MAX_FPS else ""
    # The background is blurred at a quarter of the size (16× fewer pixels to blur), then scaled up.
    bw, bh = max(2, width // 4 // 2 * 2), max(2, height // 4 // 2 * 2)
    background = (
        f"[a]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},boxblur=10:2,"
        f"eq=brightness=-0.08,scale={width}:{height},setsar=1[bg]"
    )
    crop = f"crop=w='if(gt(iw,ih*{CROP_MIN_ASPECT}),ih*{width}/{height},iw)':h=ih," if mode == "crop" else ""
    foreground = (
        f"[b]{crop}scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[fg]"
    )
    chain = ["overlay=(W-w)/2:(H-h)/2"]
    for caption, textfile in zip(drawn, textfiles, strict=True):
        # Baseline at a fixed height (y = baseline − the tallest glyph's ascent), so captions do not jump.
        baseline = round(height * CAPTION_CENTRE + caption.size * 0.35)
        chain.append(
            "drawtext="
            + ":".join(
                [
                    f"fontfile={escape_filter_value(str(font))}",
                    f"textfile={escape_filter_value(str(textfile))}",
                    "expansion=none",
                    f"fontsize={caption.size}",
                    "fontcolor=white",
                    f"borderw={_border(caption.size)}",
                    "bordercolor=black",
                    "shadowcolor=black@0.45",
                    f"shadowx=0:shadowy={max(2, caption.size // 24)}",
                    "x=(w-text_w)/2",
                    f"y={baseline}-max_glyph_a",
                    f"enable='gte(t,{caption.start:.3f})*lt(t,{caption.end:.3f})'",
                ]
            )
        )
    chain.append("format=yuv420p")
    return f"[0:v]{pre}split=2[a][b];{background};{foreground};[bg][fg]" + ",".join(chain) + "[v]"


def reel_timeout(duration: float, *, width: int, height: int) -> float:
    """Measured here: 30 s of 720p to 1080×1920 took 19–21 s on 2 busy cores (~0.65× real time); allow ~25×."""
    return 120 + duration * max(10.0, width * height / 100_000)


def render_reel(
    src: Path,
    info: MediaInfo,
    *,
    start: float,
    end: float,
    out: Path,
    captions: list[Caption],
    mode: str = "blur",
    fonts: Fonts,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout: float | None = None,
    cancel: CancelToken | None = None,
    width: int = 1080,
    height: int = 1920,
) -> ReelResult:
    """Write `out`: source [start, end) framed to width×height, captions burned in, H.264/AAC MP4 (faststart).

    The seek is accurate (input -ss with a re-encode starts at the exact time, not the keyframe before).
    A source with no audio gets a silent AAC track, since the platforms expect one.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(f"reel size must be positive and even, not {width}x{height}")
    start = max(0.0, start)
    end = min(end, info.duration) if info.duration > 0 else end
    if end - start < 0.5:
        raise MediaError(
            f"This reel's time range ({clock(start)}–{clock(end)}) is too short or outside the video; "
            "choose a range inside the video that is at least half a second long.",
            detail=f"start={start} end={end} duration={info.duration}",
        )
    length = end - start
    drawn = _plan_captions(captions, start=start, end=end, font_path=fonts.bold, width=width, height=height)
    with tempfile.TemporaryDirectory(prefix=".reel-", dir=_mkdir(out.parent)) as work:
        textfiles = []
        for i, caption in enumerate(drawn):
            textfile = Path(work) / f"caption-{i:04d}.txt"
            textfile.write_text(caption.text, encoding="utf-8")  # no trailing newline: it would draw as a line
            textfiles.append(textfile)
        graph = reel_filtergraph(
            mode=mode, width=width, height=height, fps=info.fps, drawn=drawn, textfiles=textfiles, font=fonts.bold
        )
        with atomic_output(out) as tmp:
            argv = [
                *ffmpeg_head(ffmpeg_bin),
                "-format_whitelist",
                FORMAT_WHITELIST,
                "-protocol_whitelist",
                PROTOCOL_WHITELIST,
                "-ss",
                f"{start:.3f}",
                "-i",
                f"file:{src}",
            ]
            if info.has_audio:
                audio_map = "0:a:0"
            else:
                argv += ["-f", "lavfi", "-t", f"{length:.3f}", "-i", "anullsrc=r=48000:cl=stereo"]
                audio_map = "1:a:0"
            argv += [
                "-filter_complex",
                graph,
                "-map",
                "[v]",
                "-map",
                audio_map,
                "-t",
                f"{length:.3f}",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                CRF,
                "-pix_fmt",
                "yuv420p",
                "-profile:v",
                "high",
                "-force_key_frames",
                "expr:eq(n,0)",
                "-c:a",
                "aac",
                "-b:a",
                AUDIO_BITRATE,
                "-ac",
                "2",
                "-ar",
                "48000",
                "-map_metadata",
                "-1",
                "-sn",
                "-dn",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
                str(tmp),
            ]
            limit = timeout or reel_timeout(length, width=width, height=height)
            try:
                seconds = run(argv, timeout=limit, cancel=cancel, what="ffmpeg").seconds
            except ProcessFailed as exc:
                raise MediaError(
                    f"We could not make the reel from {clock(start)} to {clock(end)}; the video may be damaged "
                    "in that part. Try another time range or upload the video again.",
                    detail=exc.detail,
                ) from None
            measured = _probe_output(tmp, ffprobe=ffprobe, cancel=cancel)
    return ReelResult(
        path=out,
        duration=measured["duration"],
        width=measured["width"],
        height=measured["height"],
        seconds=seconds,
        size=out.stat().st_size,
    )


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _Probed(TypedDict):
    duration: float
    width: int
    height: int


def _probe_output(path: Path, *, ffprobe: str, cancel: CancelToken | None) -> _Probed:
    argv = [
        ffprobe,
        "-v",
        "error",
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        "mov,mp4,m4a,3gp,3g2,mj2",
        "-show_entries",
        "format=duration:stream=codec_type,width,height",
        "-of",
        "json",
        f"file:{path}",
    ]
    data = json.loads(run(argv, timeout=30, cancel=cancel, what="ffprobe").stdout or b"{}")
    video: dict[str, Any] = next((s for s in data.get("streams", []) if s.get("codec_type") == "video"), {})
    try:
        duration = float(data["format"]["duration"])
    except (KeyError, TypeError, ValueError):
        duration = 0.0
    return {"duration": duration, "width": int(video.get("width") or 0), "height": int(video.get("height") or 0)}
