"""A reel: a vertical 1080×1920 MP4 cut from a time range of the source, with burned-in captions shown
two or three words at a time (the style short-form viewers expect).

Framing:
- "blur": the whole frame, scaled to the width, over a blurred and zoomed copy of itself filling 9:16;
- "crop": a centre crop of a landscape source to 9:16.
A source that is already vertical or square always keeps its whole frame (fitted, blurred fill around it):
cropping it to 9:16 would cut away the subject.

Captions are untrusted text (a transcript, a model). They are drawn with ffmpeg's drawtext from one text
file each with `expansion=none`, so `%{...}`, ASS tags, quotes or `<script>` are drawn as the characters
they are, never interpreted; the file paths are ours.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from ..files import atomic_output
from ..probe import PROTOCOL_WHITELIST, MediaInfo, clock, input_options
from ..process import CancelToken, ProcessFailed, run
from ..transcript.types import Segment
from .fonts import Fonts, clean_text

MIN_SECONDS = 1.0
CAPTION_HEIGHT_SHARE = 0.07  # caption text ≈ 7 % of the frame height
CAPTION_Y_SHARE = 0.70  # top of the caption line: the lower-middle third, clear of the platform's buttons
WORD_GAP = 0.6  # a pause this long starts a new caption


@dataclass(frozen=True)
class Caption:
    start: float  # seconds in the SOURCE
    end: float
    text: str


@dataclass(frozen=True)
class ReelResult:
    path: Path
    duration: float
    width: int
    height: int
    seconds: float
    size: int


def captions_from_words(
    words: list[tuple[float, float, str]], *, start: float, end: float, max_words: int = 3, max_chars: int = 18
) -> list[Caption]:
    """Group timed words into short captions: at most `max_words` words and, where possible, `max_chars`
    characters; a pause starts a new one. Words outside [start, end] are left out, times are clipped."""
    inside = [(max(s, start), min(e, end), t.strip()) for s, e, t in words if e > start and s < end and t.strip()]
    groups: list[list[tuple[float, float, str]]] = []
    for word in inside:
        current = groups[-1] if groups else None
        if current is not None:
            text = " ".join(w[2] for w in current) + " " + word[2]
            if len(current) < max_words and len(text) <= max_chars and word[0] - current[-1][1] < WORD_GAP:
                current.append(word)
                continue
        groups.append([word])
    captions = []
    for i, group in enumerate(groups):
        cap_end = group[-1][1]
        if i + 1 < len(groups):  # hold each caption until the next one, unless there is a real pause
            nxt = groups[i + 1][0][0]
            cap_end = nxt if nxt - cap_end < WORD_GAP else cap_end
        captions.append(Caption(group[0][0], max(cap_end, group[0][0] + 0.05), " ".join(w[2] for w in group)))
    return captions


def captions_from_segments(segments: list[Segment], *, start: float, end: float, **kwargs) -> list[Caption]:
    """Captions from a transcript: word times where the transcript has them, otherwise each segment's
    words spread evenly over its duration."""
    words: list[tuple[float, float, str]] = []
    for seg in segments:
        if seg.end <= start or seg.start >= end:
            continue
        if seg.words:
            words += [(w.start, w.end, w.text) for w in seg.words]
            continue
        parts = seg.text.split()
        if not parts:
            continue
        step = max(seg.end - seg.start, 0.01) / len(parts)
        words += [(seg.start + i * step, seg.start + (i + 1) * step, p) for i, p in enumerate(parts)]
    return captions_from_words(words, start=start, end=end, **kwargs)


def _font_size(text: str, font: Path, *, base: int, max_width: int) -> int:
    """The caption's size: `base`, or smaller so the line fits `max_width` pixels."""
    from PIL import ImageFont

    width = ImageFont.truetype(str(font), base).getlength(text)
    if width <= max_width:
        return base
    return max(24, int(base * max_width / width))


def framing_filter(info: MediaInfo, *, mode: str, width: int, height: int) -> str:
    """The video part of the filter graph, from [0:v] to [framed]."""
    aspect = info.width / info.height if info.height else 1.0
    crop = mode == "crop" and aspect > 1.2  # only a landscape source is cropped; vertical/square keep all
    if crop:
        return (f"[0:v]crop=w='trunc(ih*{width}/{height}/2)*2':h=ih,scale={width}:{height},setsar=1[framed]")  # fmt: skip
    # Blurred fill: the background is made small (cheap to blur), blurred, then scaled up.
    small_w, small_h = width // 4, height // 4
    return (
        f"[0:v]split=2[bgsrc][fgsrc];"
        f"[bgsrc]scale={small_w}:{small_h}:force_original_aspect_ratio=increase,crop={small_w}:{small_h},"
        f"boxblur=10:2,scale={width}:{height},setsar=1[bg];"
        f"[fgsrc]scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[fg];"
        f"[bg][fg]overlay=(W-w)/2:(H-h)/2[framed]"
    )


def _escape_path(path: Path) -> str:
    """A path inside a filter graph option (our own temp names; escape anyway)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")


def caption_filters(captions: list[Caption], *, start: float, end: float, folder: Path, fonts: Fonts,
                    width: int, height: int) -> str:  # fmt: skip
    """drawtext filters, one per caption, each from its own text file (expansion off), shown during its
    time relative to the clip."""
    base = int(height * CAPTION_HEIGHT_SHARE)
    parts = []
    for i, cap in enumerate(captions):
        text = clean_text(cap.text, font_path=fonts.bold)
        t0, t1 = max(cap.start, start) - start, min(cap.end, end) - start
        if not text or t1 <= t0:
            continue
        text_file = folder / f"caption-{i:04d}.txt"
        text_file.write_text(text, encoding="utf-8")
        size = _font_size(text, fonts.bold, base=base, max_width=int(width * 0.9))
        parts.append(
            f"drawtext=fontfile='{_escape_path(fonts.bold)}':textfile='{_escape_path(text_file)}':expansion=none"
            f":fontsize={size}:fontcolor=white:borderw={max(3, size // 14)}:bordercolor=black"
            f":x=(w-text_w)/2:y=h*{CAPTION_Y_SHARE}:enable='between(t,{t0:.3f},{t1:.3f})'"
        )
    return ",".join(parts)


def _probe_output(path: Path, *, ffprobe: str, cancel: CancelToken | None) -> tuple[float, int, int]:
    argv = [ffprobe, "-v", "error", "-protocol_whitelist", PROTOCOL_WHITELIST, "-show_entries",
            "format=duration:stream=codec_type,width,height", "-of", "json", f"file:{path}"]  # fmt: skip
    data = json.loads(run(argv, timeout=30, cancel=cancel, what="ffprobe").stdout)
    video = next((s for s in data.get("streams", []) if s.get("codec_type") == "video"), {})
    return float(data["format"]["duration"]), int(video.get("width", 0)), int(video.get("height", 0))


def render_reel(
    src: Path, info: MediaInfo, *, start: float, end: float, out: Path, captions: list[Caption],
    mode: str = "blur", fonts: Fonts, ffmpeg_bin: str = "ffmpeg", ffprobe: str = "ffprobe",
    timeout: float | None = None, cancel: CancelToken | None = None, width: int = 1080, height: int = 1920,
) -> ReelResult:  # fmt: skip
    """Write the reel for [start, end) of `src` to `out` (via a temp name)."""
    start, end = max(0.0, start), min(end, info.duration)
    if end - start < MIN_SECONDS:
        raise MediaError(f"The reel's range {clock(start)}–{clock(end)} is too short to cut.")
    if not info.width or not info.height:
        raise MediaError("This file has no picture, so no reel can be cut from it.")
    length = end - start
    folder = Path(tempfile.mkdtemp(prefix="reel-"))
    try:
        graph = framing_filter(info, mode=mode, width=width, height=height)
        captions_graph = caption_filters(captions, start=start, end=end, folder=folder, fonts=fonts,
                                         width=width, height=height)  # fmt: skip
        graph += f";[framed]{captions_graph + ',' if captions_graph else ''}format=yuv420p[v]"
        with atomic_output(out) as tmp:
            argv = [ffmpeg_bin, "-nostdin", "-hide_banner", "-v", "error", "-y"]
            argv += [*_input_args(), "-ss", f"{start:.3f}", "-i", f"file:{src}"]
            argv += ["-filter_complex", graph, "-map", "[v]"]
            if info.has_audio:
                argv += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2"]
            argv += ["-t", f"{length:.3f}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "21",
                     "-movflags", "+faststart", "-f", "mp4", str(tmp)]  # fmt: skip
            # libx264 at 1080×1920 manages roughly real time per core here; allow plenty.
            budget = timeout or 120 + length * 10
            try:
                seconds = run(argv, timeout=budget, cancel=cancel, what="ffmpeg").seconds
            except ProcessFailed as exc:
                raise MediaError(
                    f"We could not cut the reel from {clock(start)} to {clock(end)}; the video may be damaged there.",
                    detail=exc.detail,
                ) from None
            duration, out_w, out_h = _probe_output(tmp, ffprobe=ffprobe, cancel=cancel)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ReelResult(path=out, duration=duration, width=out_w, height=out_h, seconds=seconds,
                      size=out.stat().st_size)  # fmt: skip


def _input_args() -> list[str]:
    options = input_options()
    return [arg for key, value in options.items() for arg in (f"-{key}", str(value))]
