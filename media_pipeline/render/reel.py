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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import MediaError
from ..files import atomic_output
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST, MediaInfo, clock
from ..process import CancelToken, ProcessFailed, ffmpeg_head, run
from ..transcript.types import Segment
from .captions import (
    DEFAULT_PRESET,
    HOOK_SECONDS,
    HOOK_TOP,
    Box,
    CaptionLine,
    HookPlace,
    libass_available,
    place_hook,
    write_ass,
)
from .cuts import Cuts
from .fonts import Fonts, clean_text
from .framing import (
    SPLIT_MIN_TALL,
    Track,
    crop_path,
    layout_segments,
    path_expression,
    split_paths,
    track_clip,
    value_at,
)

if TYPE_CHECKING:  # PIL itself is imported lazily, where text is measured
    from PIL.ImageFont import FreeTypeFont

MODES = ("blur", "crop", "speaker")
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
SPLIT_CAPTION_CENTRE = 0.5  # the split layout's captions sit on the seam, between the two faces
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
    # The caption's words with their own times (source seconds), for captions that highlight the word being
    # said; empty: the words are spread evenly over the caption.
    words: tuple[tuple[float, float, str], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ReelResult:
    path: Path
    duration: float  # measured from the written file
    width: int
    height: int
    seconds: float  # wall time spent
    size: int
    # what was done: "faces", "motion", "split" (two stacked), "faces+split" (stacked while two speakers are
    # there, one window otherwise), "crop" (centre) or "blur"
    framing: str = "blur"
    captions: str = "drawtext"  # "ass:<preset>" when libass drew them


# ---------------------------------------------------------------------------------------------- captions


def captions_from_words(
    words: Sequence[tuple[float, float, str]],
    *,
    start: float,
    end: float,
    max_words: int = 3,
    max_chars: int = 18,
    skip: Callable[[str], bool] | None = None,
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
        if not text or not inside or (skip is not None and skip(text)):
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
            captions.append(Caption(start=c_start, end=c_end, text=" ".join(w[2] for w in group), words=tuple(group)))
    return captions


def captions_from_segments(
    segments: Sequence[Segment],
    *,
    start: float,
    end: float,
    max_words: int = 3,
    max_chars: int = 18,
    skip: Callable[[str], bool] | None = None,
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
    return captions_from_words(words, start=start, end=end, max_words=max_words, max_chars=max_chars, skip=skip)


_Drawn = CaptionLine  # a caption as drawn: output seconds, font size, its words


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
    captions: Sequence[Caption],
    *,
    start: float,
    end: float,
    font_path: Path,
    width: int,
    height: int,
    to_output: Callable[[float], float] | None = None,
) -> list[_Drawn]:
    """Captions as drawn: cleaned text, output times (`to_output` maps source seconds to the reel's, through
    any jump cuts; by default t − start), clipped to the reel, no two on screen at once, each split into
    one-line pieces that fit, with the words each piece holds."""
    output = to_output or (lambda t: t - start)
    ordered = sorted(captions, key=lambda c: (c.start, c.end))
    drawn: list[_Drawn] = []
    for i, caption in enumerate(ordered):
        c_start, c_end = max(caption.start, start), min(caption.end, end)
        if i + 1 < len(ordered):
            c_end = min(c_end, max(ordered[i + 1].start, c_start))
        if c_end <= c_start:
            continue
        given = caption.words or _spread(caption.text, c_start, c_end)
        words: list[tuple[float, float, str]] = []
        for w_start, w_end, text in given:
            cleaned = clean_text(text, font_path=font_path)
            if cleaned:
                w_start, w_end = min(max(w_start, c_start), c_end), min(max(w_end, c_start), c_end)
                words.extend((w_start, w_end, part) for part in cleaned.split(" "))
        if not words:
            continue
        at, stop = output(c_start), output(c_end)
        if stop <= at:
            continue
        text = " ".join(w[2] for w in words)
        taken = 0
        for piece, size, share in _fit(text, font_path=font_path, width=width, height=height):
            count = len(piece.split(" "))
            mine = words[taken : taken + count]
            taken += count
            p_end = at + (stop - at) * share
            timed = tuple((min(max(output(w0), at), p_end), min(max(output(w1), at), p_end), t) for w0, w1, t in mine)
            drawn.append(_Drawn(start=at, end=p_end, size=size, words=timed))
            at = p_end
    return drawn


def _spread(text: str, start: float, end: float) -> list[tuple[float, float, str]]:
    tokens = text.split()
    step = (end - start) / max(len(tokens), 1)
    return [(start + i * step, start + (i + 1) * step, t) for i, t in enumerate(tokens)]


# ---------------------------------------------------------------------------------------------- ffmpeg


def escape_filter_value(value: str) -> str:
    """Escape a value for `key=value` inside a filtergraph (ffmpeg-filters, "Notes on filtergraph escaping"):
    first for the filter's option parser (\\ ' :), then for the graph parser (\\ ' [ ] , ;)."""
    value = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in value)


def _select(cuts: Cuts, start: float) -> tuple[str, str]:
    """The `select` and `setpts` expressions that keep only `cuts`' ranges (clip seconds: the input is
    seeked to `start`) and close the gaps, so the reel's clock runs on through each jump cut."""
    keep = " + ".join(f"between(t,{a - start:.3f},{b - start:.3f})" for a, b in cuts.keep)
    removed = "+".join(f"gte(T,{a - start:.3f})*{gap:.3f}" for a, gap in _gaps(cuts, start))
    return keep, f"PTS-({removed or '0'})/TB"


def _gaps(cuts: Cuts, start: float) -> list[tuple[float, float]]:
    out, previous = [], start
    for a, b in cuts.keep:
        if a - previous > 1e-6:
            out.append((a, a - previous))
        previous = b
    return out


def reel_filtergraph(
    *,
    mode: str,
    width: int,
    height: int,
    fps: float,
    drawn: Sequence[_Drawn],
    textfiles: Sequence[Path],
    font: Path,
    crop_x: str | None = None,
    select: tuple[str, str] | None = None,
    ass: Path | None = None,
    split_x: tuple[str, str] | None = None,
    spans: Sequence[tuple[float, float, bool]] = (),
) -> str:
    """The -filter_complex graph: [jump cuts →] framing onto a width×height canvas → captions → [v]
    (and [a] when `select` cuts the sound too).

    Framing is either `crop_x` (a crop window of the output's aspect whose centre follows an expression of
    t: the speaker path), or the source fitted whole over a blurred copy of itself, centre-cropped first in
    mode "crop". That landscape-or-not decision is made on ffmpeg's own iw/ih (after autorotation of phone
    videos whose frames are stored sideways), not on the probed size, so rotated vertical videos are never
    cropped. Captions are the `ass` file (libass) or one drawtext per caption. `split_x`: the stacked split
    layout, two crop windows of the half's aspect (top, bottom) following their own expressions of t, stacked
    with a thin dark rule between them. With both `crop_x` and `split_x`, `spans` (output seconds, split or
    not) say which stretch uses which: each stretch is trimmed out of the one decode, framed its own way
    (the paths keep the reel's clock) and the stretches are joined again by `concat` before the captions.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    pre = "fps=30," if fps <= 0 or fps > MAX_FPS else ""
    if select is not None:
        pre += f"select='{select[0]}',setpts='{select[1]}',"
    if ass is not None:
        chain = [f"ass=filename={escape_filter_value(str(ass))}:fontsdir={escape_filter_value(str(font.parent))}"]
    else:
        chain = []
        for caption, textfile in zip(drawn, textfiles, strict=True):
            # Baseline at a fixed height (y = baseline − the tallest glyph's ascent), so captions do not jump.
            centre = caption.centre if caption.centre is not None else CAPTION_CENTRE
            baseline = round(height * centre + caption.size * 0.35)
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
    audio = ""
    if select is not None:
        audio = f";[0:a:0]aselect='{select[0]}',asetpts='{select[1]}',aresample=async=1000[a]"
    if split_x is not None and crop_x is not None and len(spans) > 1:
        parts, labels = [], []
        for i, (a, b, split) in enumerate(spans):
            bounds = [f"start={a:.3f}"] if i else []
            bounds += [f"end={b:.3f}"] if i + 1 < len(spans) else []
            trim = f"trim={':'.join(bounds)}," if bounds else ""
            if split:
                framed = _stack(f"[p{i}]{trim}", split_x, width=width, height=height, name=f"{i}")
            else:
                framed = f"[p{i}]{trim}{_window(crop_x, width=width, height=height)}"
            parts.append(f"{framed},setpts=PTS-STARTPTS[q{i}]")
            labels.append(f"[q{i}]")
        outs = "".join(f"[p{i}]" for i in range(len(spans)))
        joined = "".join(labels) + f"concat=n={len(spans)}:v=1:a=0"
        return (
            f"[0:v]{pre}split={len(spans)}{outs};" + ";".join(parts) + f";{joined}," + ",".join(chain) + "[v]" + audio
        )
    if split_x is not None:
        return (
            _stack(f"[0:v]{pre}", split_x, width=width, height=height, name="") + "," + ",".join(chain) + "[v]" + audio
        )
    if crop_x is not None:
        return f"[0:v]{pre}{_window(crop_x, width=width, height=height)}," + ",".join(chain) + "[v]" + audio
    # The background is blurred at a quarter of the size (16× fewer pixels to blur), then scaled up.
    bw, bh = max(2, width // 4 // 2 * 2), max(2, height // 4 // 2 * 2)
    background = (
        f"[va]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},boxblur=10:2,"
        f"eq=brightness=-0.08,scale={width}:{height},setsar=1[bg]"
    )
    crop = f"crop=w='if(gt(iw,ih*{CROP_MIN_ASPECT}),ih*{width}/{height},iw)':h=ih," if mode == "crop" else ""
    foreground = (
        f"[b]{crop}scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[fg]"
    )
    chain.insert(0, "overlay=(W-w)/2:(H-h)/2")
    return f"[0:v]{pre}split=2[va][b];{background};{foreground};[bg][fg]" + ",".join(chain) + "[v]" + audio


def _window(expr: str, *, width: int, height: int) -> str:
    """One crop window of the reel's aspect, full height, its centre at `expr` (share of the width, of t)."""
    return (
        f"crop=w='trunc(ih*{width}/{height}/2)*2':h='trunc(ih/2)*2'"
        f":x='clip(iw*({expr})-ow/2,0,iw-ow)':y=0:exact=1,scale={width}:{height},setsar=1"
    )


def split_top(height: int) -> int:
    """The split layout's top half's height (the seam's y), even."""
    return height // 2 // 2 * 2


def _stack(head: str, split_x: tuple[str, str], *, width: int, height: int, name: str) -> str:
    """`head` (a filter chain's start) split into the two halves' windows, stacked with a dark rule
    between them; the chain ends after the rule, ready for more filters."""
    top_h = split_top(height)
    halves = []
    for label, expr, h in (("top", split_x[0], top_h), ("bottom", split_x[1], height - top_h)):
        halves.append(
            f"[{label}_in{name}]crop=w='trunc(ih*{width}/{h}/2)*2':h='trunc(ih/2)*2'"
            f":x='clip(iw*({expr})-ow/2,0,iw-ow)':y=0:exact=1,scale={width}:{h},setsar=1[{label}{name}]"
        )
    rule = max(2, height // 320 // 2 * 2)
    return (
        f"{head}split=2[top_in{name}][bottom_in{name}];"
        + ";".join(halves)
        + f";[top{name}][bottom{name}]vstack=inputs=2,"
        f"drawbox=x=0:y={top_h - rule // 2}:w=iw:h={rule}:color=black@0.85:t=fill"
    )


def reel_timeout(duration: float, *, width: int, height: int) -> float:
    """Measured here: 30 s of 720p to 1080×1920 took 19–21 s on 2 busy cores (~0.65× real time); allow ~25×."""
    return 120 + duration * max(10.0, width * height / 100_000)


@dataclass(frozen=True)
class Layout:
    """How a reel is framed (plan_framing). Paths are (output seconds, centre as a share of the source's
    width); `spans` (output seconds, split?) cover the reel when it changes layout, else are empty."""

    framing: str  # ReelResult.framing
    crop: list[tuple[float, float]] | None = None  # the one window's centre
    halves: tuple[list[tuple[float, float]], list[tuple[float, float]]] | None = None  # the split's top, bottom
    spans: tuple[tuple[float, float, bool], ...] = ()
    crop_share: float = 1.0  # a window's width over the source's
    half_share: float = 1.0

    @property
    def crop_x(self) -> str | None:
        return path_expression(self.crop) if self.crop is not None else None

    @property
    def split_x(self) -> tuple[str, str] | None:
        return (path_expression(self.halves[0]), path_expression(self.halves[1])) if self.halves else None

    def split_at(self, t: float) -> bool:
        """Whether the picture is the stacked split at output second `t`."""
        if self.halves is None:
            return False
        if not self.spans:
            return self.crop is None
        return next((split for a, b, split in self.spans if t < b), self.spans[-1][2])


def plan_framing(
    *,
    mode: str,
    track: Track | None,
    width: int,
    height: int,
    start: float,
    cuts: Cuts | None = None,
    speech: Sequence[tuple[float, float]] | None = None,
    clip: float | None = None,
) -> Layout:
    """How the reel is framed (see Layout).

    Speaker mode crops along a path only when the source is clearly wider than the reel and the track saw
    faces or motion to follow; otherwise the source is fitted whole over its blurred copy (mode "blur").
    Two faces too far apart for one window of a tall reel get the stacked split layout while both are there
    (framing.layout_segments): the top half follows the left face, the bottom half the right one. Split
    throughout: "split"; split for some stretches and one window for the others: "faces+split"."""
    if mode != "speaker" or track is None or not track.samples:
        return Layout("crop" if mode == "crop" else "blur")
    kind = track.kind()
    if kind is None or track.aspect <= width / height * CROP_MIN_ASPECT:
        return Layout("blur")
    crop_share = (width / height) / track.aspect
    half_share = min(1.0, (width / split_top(height)) / track.aspect)
    if kind == "faces" and height / width >= SPLIT_MIN_TALL and half_share < 1.0:
        segments = layout_segments(track.samples, crop_share=crop_share, duration=clip)
        if any(split for _, _, split in segments):
            top, bottom = split_paths(track.samples, crop_share=crop_share, half_share=half_share)
            halves = (_on_output(top, cuts, start), _on_output(bottom, cuts, start))
            if all(split for _, _, split in segments):
                return Layout("split", halves=halves, crop_share=crop_share, half_share=half_share)
            spans = _spans_on_output(segments, cuts, start)
            if len(spans) > 1:
                path = crop_path(track.samples, kind=kind, crop_share=crop_share, speech=speech)
                return Layout(
                    "faces+split",
                    crop=_on_output(path, cuts, start),
                    halves=halves,
                    spans=spans,
                    crop_share=crop_share,
                    half_share=half_share,
                )
            if spans and spans[0][2]:
                return Layout("split", halves=halves, crop_share=crop_share, half_share=half_share)
    path = crop_path(track.samples, kind=kind, crop_share=crop_share, speech=speech)
    return Layout(kind, crop=_on_output(path, cuts, start), crop_share=crop_share)


def _spans_on_output(
    segments: Sequence[tuple[float, float, bool]], cuts: Cuts | None, start: float
) -> tuple[tuple[float, float, bool], ...]:
    """Layout stretches (clip seconds) on the reel's clock; a stretch the jump cuts remove entirely is gone."""
    out: list[tuple[float, float, bool]] = []
    for a, b, split in segments:
        oa, ob = (cuts.to_output(start + a), cuts.to_output(start + b)) if cuts is not None else (a, b)
        if out:
            oa = out[-1][1]
        if ob - oa < 1e-3:
            continue
        if out and out[-1][2] == split:
            out[-1] = (out[-1][0], ob, split)
        else:
            out.append((oa, ob, split))
    return tuple(out)


def _on_output(path: list[tuple[float, float]], cuts: Cuts | None, start: float) -> list[tuple[float, float]]:
    """The track's times are clip seconds of the source; the crop runs after the jump cuts, on output time."""
    if cuts is None:
        return path
    mapped: list[tuple[float, float]] = []
    for t, x in path:
        out_t = cuts.to_output(start + t)
        if mapped and out_t <= mapped[-1][0]:
            out_t = mapped[-1][0] + 0.001
        mapped.append((out_t, x))
    return mapped


HEAD_PAD = 0.3  # a face box grown by this share of its side all round: hair, chin and ears are the face too


def face_boxes(
    layout: Layout,
    track: Track | None,
    *,
    width: int,
    height: int,
    until: float,
    cuts: Cuts | None = None,
    start: float = 0.0,
) -> list[Box]:
    """Where the tracked faces are on the reel's picture (pixels, grown by HEAD_PAD) during its first
    `until` seconds: each sample's faces seen through the window(s) the layout shows at that moment."""
    if track is None or not track.samples or track.aspect <= 0:
        return []
    aspect, top_h = track.aspect, split_top(height)
    boxes: list[Box] = []
    for sample in track.samples:
        t = cuts.to_output(start + sample.t) if cuts is not None else sample.t
        if t > until:
            break
        # (centre, width share of the source, the picture's rectangle it fills)
        windows: list[tuple[float, float, Box]]
        if layout.split_at(t) and layout.halves is not None:
            windows = [
                (value_at(layout.halves[0], t), layout.half_share, (0, 0, width, top_h)),
                (value_at(layout.halves[1], t), layout.half_share, (0, top_h, width, height)),
            ]
        elif layout.crop is not None:
            windows = [(value_at(layout.crop, t), layout.crop_share, (0, 0, width, height))]
        else:  # fitted whole over the blurred copy
            fit_w, fit_h = (width, width / aspect) if aspect >= width / height else (height * aspect, height)
            left, top = (width - fit_w) / 2, (height - fit_h) / 2
            windows = [(0.5, 1.0, (left, top, left + fit_w, top + fit_h))]
        for centre, share, (ox0, oy0, ox1, oy1) in windows:
            x0 = min(max(centre - share / 2, 0.0), 1.0 - share)
            per_x, per_y = (ox1 - ox0) / share, oy1 - oy0  # pixels per source width, per source height
            for face in sample.faces:
                side = face.size * per_y
                grow = side * (0.5 + HEAD_PAD)
                fx, fy = ox0 + (face.x - x0) * per_x, oy0 + face.y * per_y
                box = (max(ox0, fx - grow), max(oy0, fy - grow), min(ox1, fx + grow), min(oy1, fy + grow))
                if box[0] < box[2] and box[1] < box[3]:
                    boxes.append(box)
    return boxes


def caption_boxes(lines: Sequence[CaptionLine], *, width: int, height: int, until: float) -> list[Box]:
    """The bands the captions shown in the first `until` seconds cover (full width, outline and the pop
    preset's enlarged word included)."""
    base = round(height * 0.07)
    edge = max(2, round(base * 0.08)) + max(1, round(base * 0.04))
    out: list[Box] = []
    for line in lines:
        if line.start < until:
            y = height * (line.centre if line.centre is not None else CAPTION_CENTRE)
            half = 0.56 * line.size * 1.12 + edge
            out.append((0.0, y - half, float(width), y + half))
    return out


def hook_place(
    hook: str, *, layout: Layout, width: int, height: int, font_path: Path, obstacles: Sequence[Box]
) -> HookPlace | None:
    """Where the hook title goes (captions.place_hook): near the top of the safe zone over one window, on
    the seam between the halves over the split layout; never over a face or a caption."""
    probe = _font(str(font_path), 100)
    ascent, descent = probe.getmetrics()
    em = 100 / max(1, ascent + descent)  # libass scales a font so its line height is the size asked for

    def measure(text: str, *, size: int) -> float:
        font = _font(str(font_path), max(1, round(size * em)))
        return float(font.getlength(text)) + 2  # a pixel of antialiasing either side

    split = layout.split_at(0.0)
    return place_hook(
        hook,
        width=width,
        height=height,
        measure=measure,
        obstacles=obstacles,
        prefer=split_top(height) / height if split else HOOK_TOP,
        centred=split,
    )


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
    caption_preset: str | None = None,
    hook: str = "",
    track: Track | None = None,
    cuts: Cuts | None = None,
    speech: Sequence[tuple[float, float]] | None = None,
) -> ReelResult:
    """Write `out`: source [start, end) framed to width×height, captions burned in, H.264/AAC MP4 (faststart).

    The seek is accurate (input -ss with a re-encode starts at the exact time, not the keyframe before).
    A source with no audio gets a silent AAC track, since the platforms expect one.
    - mode "speaker": the crop follows `track` (framing.track_clip of the same range; made here if None);
      "crop": a centre crop; "blur": fitted whole over a blurred copy.
    - caption_preset (captions.PRESETS): animated captions and the `hook` title drawn by libass; None, or an
      ffmpeg without libass: plain drawtext captions (and no hook). The hook stands where no tracked face
      and no caption of its first seconds is (hook_place), on the seam over the split layout; with no such
      place even at its smallest size it is left out rather than drawn over a face.
    - cuts: the ranges to keep (render.cuts.plan_cuts); captions and the crop path are re-timed to match.
    All of it happens in one ffmpeg pass.
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
    if cuts is not None and len(cuts.keep) == 1 and cuts.keep[0][0] <= start + 0.01 and cuts.keep[0][1] >= end - 0.01:
        cuts = None  # nothing is cut
    length = cuts.duration if cuts is not None else end - start
    if mode == "speaker" and track is None:
        track = track_clip(src, start=start, end=end, ffmpeg_bin=ffmpeg_bin, cancel=cancel)
    layout = plan_framing(
        mode=mode, track=track, width=width, height=height, start=start, cuts=cuts, speech=speech, clip=end - start
    )
    to_output = cuts.to_output if cuts is not None else None
    drawn = _plan_captions(
        captions, start=start, end=end, font_path=fonts.bold, width=width, height=height, to_output=to_output
    )
    # The split layout's captions sit on the seam, between the two faces; one window's on the lower third.
    drawn = [
        replace(line, centre=SPLIT_CAPTION_CENTRE if layout.split_at(line.start) else CAPTION_CENTRE) for line in drawn
    ]
    use_ass = caption_preset is not None and libass_available(ffmpeg_bin)
    place = None
    if use_ass and hook.strip():
        obstacles = face_boxes(layout, track, width=width, height=height, until=HOOK_SECONDS, cuts=cuts, start=start)
        obstacles += caption_boxes(drawn, width=width, height=height, until=HOOK_SECONDS)
        place = hook_place(hook, layout=layout, width=width, height=height, font_path=fonts.bold, obstacles=obstacles)
    with tempfile.TemporaryDirectory(prefix=".reel-", dir=_mkdir(out.parent)) as work:
        textfiles: list[Path] = []
        ass: Path | None = None
        if use_ass:
            ass = write_ass(
                Path(work) / "captions.ass",
                lines=drawn,
                width=width,
                height=height,
                preset=caption_preset or DEFAULT_PRESET,
                font_name=_family(fonts.bold),
                centre=CAPTION_CENTRE,
                hook=hook if place is not None else "",
                hook_place=place,
            )
        else:
            for i, caption in enumerate(drawn):
                textfile = Path(work) / f"caption-{i:04d}.txt"
                textfile.write_text(caption.text, encoding="utf-8")  # no trailing newline: it would draw as a line
                textfiles.append(textfile)
        select = _select(cuts, start) if cuts is not None else None
        graph = reel_filtergraph(
            mode=mode,
            width=width,
            height=height,
            fps=info.fps,
            drawn=[] if use_ass else drawn,
            textfiles=textfiles,
            font=fonts.bold,
            crop_x=layout.crop_x,
            select=select,
            ass=ass,
            split_x=layout.split_x,
            spans=layout.spans,
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
            ]
            if cuts is not None:
                argv += ["-t", f"{end - start:.3f}"]
            argv += ["-i", f"file:{src}"]
            if info.has_audio:
                audio_map = "[a]" if select is not None else "0:a:0"
            else:
                argv += ["-f", "lavfi", "-t", f"{length:.3f}", "-i", "anullsrc=r=48000:cl=stereo"]
                audio_map = "1:a:0"
            if select is not None and not info.has_audio:
                graph = graph.rsplit(";[0:a:0]", 1)[0]
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
        seconds=seconds + (track.seconds if track is not None else 0.0),
        size=out.stat().st_size,
        framing=layout.framing,
        captions=f"ass:{caption_preset}" if use_ass else "drawtext",
    )


def write_poster(
    reel: Path, out: Path, *, at: float, ffmpeg_bin: str = "ffmpeg", cancel: CancelToken | None = None
) -> Path:
    """The reel's frame at `at` seconds (framing.best_frame, mapped through the cuts) as a JPEG poster."""
    with atomic_output(out) as tmp:
        argv = [
            *ffmpeg_head(ffmpeg_bin),
            "-protocol_whitelist",
            PROTOCOL_WHITELIST,
            "-ss",
            f"{max(0.0, at):.3f}",
            "-i",
            f"file:{reel}",
            "-frames:v",
            "1",
            "-q:v",
            "3",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
            str(tmp),
        ]
        try:
            run(argv, timeout=60, cancel=cancel, what="ffmpeg")
        except ProcessFailed as exc:
            raise MediaError("We could not take a poster frame from the reel.", detail=exc.detail) from None
    return out


@dataclass(frozen=True)
class Poster:
    """A reel's poster: the frame at `at` seconds of the reel file as it is now (its name, size and time of
    writing are its cache key, so a re-rendered reel gets a new poster and an unchanged one costs a lookup)."""

    reel: Path
    at: float
    version: str = "poster-1"

    def key(self) -> str:
        import hashlib

        st = self.reel.stat()
        parts = (self.version, self.reel.name, st.st_size, st.st_mtime_ns, f"{max(0.0, self.at):.3f}")
        return hashlib.sha256(repr(parts).encode()).hexdigest()


def poster_jpeg(poster: Poster, *, ffmpeg_bin: str = "ffmpeg", cancel: CancelToken | None = None) -> bytes:
    """The JPEG bytes of a poster frame (what write_poster writes), for the image pool. One decoder thread:
    the pool runs posters side by side, and a thread pool per picture costs ≈ 15 % more CPU (bench.kit)."""
    argv = [
        *ffmpeg_head(ffmpeg_bin),
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-threads",
        "1",
        "-ss",
        f"{max(0.0, poster.at):.3f}",
        "-i",
        f"file:{poster.reel}",
        "-frames:v",
        "1",
        "-q:v",
        "3",
        "-f",
        "image2pipe",
        "-c:v",
        "mjpeg",
        "pipe:1",
    ]
    try:
        data = run(argv, timeout=60, cancel=cancel, what="ffmpeg").stdout
    except ProcessFailed as exc:
        raise MediaError("We could not take a poster frame from the reel.", detail=exc.detail) from None
    if not data:
        raise MediaError("We could not take a poster frame from the reel.", detail="ffmpeg wrote no picture")
    return data


@lru_cache(maxsize=16)
def _family(font_path: Path) -> str:
    """The font's family name, which libass looks up among the files in `fontsdir`."""
    return str(_font(str(font_path), 20).getname()[0] or "DejaVu Sans")


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
