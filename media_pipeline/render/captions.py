"""Animated reel captions as an ASS file (written with pysubs2) that ffmpeg's `ass` filter draws with libass.

Three presets: "clean" (the group of 2–3 words, white with an outline), "pop" (the group, the word being said
in yellow and a little larger) and "karaoke" (the group, filled word by word as it is said). A hook title can
stand over the first seconds. Everything stays inside the platforms' safe zones: captions centred on a line
70 % down (above the description and buttons that cover the bottom ~25 %), side margins of 8 %, the hook
below the top ~12 % where the app's own tabs sit, moved (and shrunk if need be) off faces and captions by
`place_hook`.

Text is drawn literally: `escape` neutralises everything libass would read as markup (see there).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pysubs2

PRESETS = ("clean", "pop", "karaoke")
DEFAULT_PRESET = "pop"
HOOK_SECONDS = 2.2
HOOK_TOP = 0.14  # the hook's top edge, as a share of the height (below the app's tabs)
HOOK_SIZE = 0.045
HOOK_MIN_SIZE = 0.028  # the hook shrinks to this (share of the height) to find a free place
HOOK_SIDE = 0.12  # the hook's side margins (share of the width)
HOOK_PAD = 0.35  # the hook's box around its text, as a share of its font size (BorderStyle 3's outline)
HOOK_GAP = 0.01  # room kept between the hook's box and a face or a caption (share of the height)
SAFE_TOP, SAFE_BOTTOM = 0.12, 0.78  # where a hook may stand: below the app's tabs, above its description
SIDE_MARGIN = 0.08
WORD_JOINER = "\u2060"  # invisible, has no width, and ends libass's reading of a backslash sequence
WHITE, YELLOW, BLACK = "&H00FFFFFF", "&H0000E5FF", "&H00000000"


@dataclass(frozen=True)
class CaptionLine:
    """One caption as it is drawn: clip times (seconds of the output), font size in pixels, its words."""

    start: float
    end: float
    size: int
    words: tuple[tuple[float, float, str], ...]  # (start, end, text), output seconds; non-empty
    centre: float | None = None  # the line's height on the picture (share); None: write_ass's `centre`

    @property
    def text(self) -> str:
        return " ".join(w[2] for w in self.words)


Box = tuple[float, float, float, float]  # left, top, right, bottom, pixels of the picture


@dataclass(frozen=True)
class HookPlace:
    """Where the hook title stands: its lines, font size and the top edge of its box (pixels); the box is
    the text block (one font size per line, libass scales fonts to that line height) plus `pad` all round."""

    lines: tuple[str, ...]
    size: int
    top: int
    pad: int
    width: float  # the box's width, pixels (centred)

    @property
    def height(self) -> int:
        return len(self.lines) * self.size + 2 * self.pad

    def box(self, frame_width: int) -> Box:
        left = (frame_width - self.width) / 2
        return (left, float(self.top), left + self.width, float(self.top + self.height))


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _wrap(text: str, room: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy lines of at most `room` pixels, then evened out: the narrowest room that still gives as many
    lines (no lone last word under a full line)."""

    def greedy(width: float) -> list[str]:
        lines: list[str] = []
        for word in text.split():
            if lines and measure(lines[-1] + " " + word) <= width:
                lines[-1] += " " + word
            else:
                lines.append(word)
        return lines

    best = greedy(room)
    for step in range(1, 10):
        narrower = greedy(room * (1 - step * 0.05))
        if len(narrower) != len(best):
            break
        best = narrower
    return best


def place_hook(
    text: str,
    *,
    width: int,
    height: int,
    measure: Callable[..., float],  # (text, *, size) -> width in pixels
    obstacles: Sequence[Box] = (),
    prefer: float = HOOK_TOP,
    centred: bool = False,
) -> HookPlace | None:
    """Where the hook goes: the free place nearest `prefer` (the box's top edge as a share of the height,
    or its middle when `centred`: the split layout's seam) inside the safe zone, clear of every obstacle
    (faces, captions) by HOOK_GAP.

    1. Wrap the text to the width inside the side margins at the current size; the box is the lines plus
       the pad on each side (counted once: the pad is part of the box, not of the room it needs).
    2. Try every top edge from the preferred one outwards, 2 px apart, within the safe zone; take the first
       whose box, grown by the gap, touches no obstacle.
    3. None found: shrink the font 10 % and go again, down to HOOK_MIN_SIZE. Still none: None (no hook
       rather than a hook over a face)."""
    text = " ".join(text.split())
    if not text:
        return None
    size = round(height * HOOK_SIZE)
    floor = max(8, round(height * HOOK_MIN_SIZE))
    gap = max(2.0, height * HOOK_GAP)
    room = width * (1 - 2 * HOOK_SIDE)
    while True:
        pad = round(size * HOOK_PAD)
        lines = _wrap(text, room - 2 * pad, partial(measure, size=size))
        text_width = max(measure(line, size=size) for line in lines)
        box_width = min(float(width), text_width + 2 * pad)
        box_height = len(lines) * size + 2 * pad
        low, high = round(height * SAFE_TOP), round(height * SAFE_BOTTOM) - box_height
        want = round(height * prefer - (box_height / 2 if centred else 0))
        if high >= low and text_width <= room - 2 * pad + 0.5:
            tops = sorted(range(low, high + 1, 2), key=lambda y: (abs(y - want), y))
            left = (width - box_width) / 2
            for top in tops:
                grown = (left - gap, top - gap, left + box_width + gap, top + box_height + gap)
                if not any(_overlaps(grown, o) for o in obstacles):
                    return HookPlace(lines=tuple(lines), size=size, top=top, pad=pad, width=box_width)
        if size <= floor:
            return None
        size = max(floor, math.floor(size * 0.9))


def escape(text: str) -> str:
    """ASS text that libass draws exactly as `text` reads (checked by rendering, tests/test_reel_captions.py):
    `{`/`}` would open/close an override block: `\\{` and `\\}` are libass's escapes for literal braces; a
    backslash would start `\\N`, `\\h`, `\\n`: a word joiner after it ends the sequence and draws as nothing."""
    out = text.replace("\\", "\\" + WORD_JOINER)
    return out.replace("{", "\\{").replace("}", "\\}")


@lru_cache(maxsize=1)
def libass_available(ffmpeg_bin: str = "ffmpeg") -> bool:
    """Whether this ffmpeg has the `ass` filter (built with libass); otherwise the reel falls back to
    drawtext captions."""
    if not shutil.which(ffmpeg_bin):
        return False
    try:
        out = subprocess.run(
            [ffmpeg_bin, "-hide_banner", "-nostdin", "-filters"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[1:2] == ["ass"] for line in out.splitlines() if line.strip())


def _cs(seconds: float) -> int:
    return max(1, round(seconds * 100))


def write_ass(
    path: Path,
    *,
    lines: Sequence[CaptionLine],
    width: int,
    height: int,
    preset: str,
    font_name: str,
    centre: float,
    hook: str = "",
    hook_seconds: float = HOOK_SECONDS,
    hook_place: HookPlace | None = None,
) -> Path:
    """Write the ASS file of a reel's captions (and hook title) for a width×height picture. The hook stands
    at `hook_place` (place_hook); without one, at the top of the safe zone, wrapped by libass."""
    import pysubs2

    if preset not in PRESETS:
        raise ValueError(f"caption preset must be one of {PRESETS}, not {preset!r}")
    subs = pysubs2.SSAFile()
    subs.info.update(
        {"PlayResX": str(width), "PlayResY": str(height), "WrapStyle": "0", "ScaledBorderAndShadow": "yes"}
    )
    base = round(height * 0.07)
    subs.styles["Caption"] = pysubs2.SSAStyle(
        fontname=font_name,
        fontsize=base,
        primarycolor=pysubs2.Color(255, 255, 255),
        secondarycolor=pysubs2.Color(255, 255, 255),
        outlinecolor=pysubs2.Color(0, 0, 0),
        backcolor=pysubs2.Color(0, 0, 0, 110),
        bold=True,
        outline=max(2, round(base * 0.08)),
        shadow=max(1, round(base * 0.04)),
        alignment=pysubs2.Alignment.MIDDLE_CENTER,
        marginl=round(width * SIDE_MARGIN),
        marginr=round(width * SIDE_MARGIN),
    )
    if preset == "karaoke":
        # \kf fills from SecondaryColour (not yet said) to PrimaryColour (said).
        karaoke = subs.styles["Caption"].copy()
        karaoke.primarycolor = pysubs2.Color(255, 229, 0)
        karaoke.secondarycolor = pysubs2.Color(255, 255, 255)
        subs.styles["Karaoke"] = karaoke
    x = width // 2
    for line in lines:
        y = round(height * (centre if line.centre is None else line.centre))
        at = f"{{\\an5\\pos({x},{y})\\fs{line.size}}}"
        if preset == "clean":
            subs.append(_event(line.start, line.end, at + escape(line.text), "Caption"))
        elif preset == "karaoke":
            parts = []
            cursor = line.start
            for w_start, w_end, text in line.words:
                # the gap before a word fills nothing; the word fills over its own time
                lead = _cs(w_start - cursor) if w_start > cursor + 0.005 else 0
                if lead:
                    parts.append(f"{{\\k{lead}}}")
                parts.append(f"{{\\kf{_cs(w_end - max(w_start, cursor))}}}{escape(text)}")
                parts.append(" ")
                cursor = max(w_end, cursor)
            subs.append(_event(line.start, line.end, at + "".join(parts).rstrip(), "Karaoke"))
        else:  # pop: one event per word, the whole group shown, the word being said highlighted
            for i, (w_start, _w_end, _) in enumerate(line.words):
                e_start = line.start if i == 0 else w_start
                e_end = line.words[i + 1][0] if i + 1 < len(line.words) else line.end
                if e_end <= e_start:
                    continue
                text = " ".join(
                    (
                        f"{{\\c{YELLOW}&\\fscx112\\fscy112}}{escape(t)}{{\\c{WHITE}&\\fscx100\\fscy100}}"
                        if j == i
                        else escape(t)
                    )
                    for j, (_, _, t) in enumerate(line.words)
                )
                subs.append(_event(e_start, e_end, at + text, "Caption"))
    if hook.strip():
        size = round(height * HOOK_SIZE)
        subs.styles["Hook"] = pysubs2.SSAStyle(
            fontname=font_name,
            fontsize=size,
            primarycolor=pysubs2.Color(20, 20, 20),
            outlinecolor=pysubs2.Color(255, 255, 255),  # with BorderStyle 3 the outline colour is the box
            backcolor=pysubs2.Color(0, 0, 0, 160),
            bold=True,
            borderstyle=3,
            outline=round(size * 0.35),
            shadow=0,
            alignment=pysubs2.Alignment.TOP_CENTER,
            marginl=round(width * 0.12),
            marginr=round(width * 0.12),
            marginv=round(height * HOOK_TOP),
        )
        if hook_place is None:
            subs.append(_event(0.0, hook_seconds, "{\\fad(120,300)}" + escape(hook.strip()), "Hook"))
        else:
            # \an8: \pos is the text block's top centre; the box (BorderStyle 3) adds `pad` around it.
            # \q2: our own line breaks only.
            place = hook_place
            tags = f"{{\\an8\\pos({x},{place.top + place.pad})\\fs{place.size}\\bord{place.pad}\\q2\\fad(120,300)}}"
            body = "\\N".join(escape(line) for line in place.lines)
            subs.append(_event(0.0, hook_seconds, tags + body, "Hook"))
    subs.save(str(path), format_="ass", encoding="utf-8")
    return path


def _event(start: float, end: float, text: str, style: str) -> pysubs2.SSAEvent:
    import pysubs2

    return pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000), text=text, style=style)
