"""Thumbnail candidates (1280×720) and covers (1080×1080, 1080×1920): a frame, cropped to fill, with a large
title that fits (the carousel's text fitting, render/carousel.py), in one of a few layouts.

Every image is a pure function of its inputs (`ImageSpec`): the image pool (render/images.py) caches it by
their hash, so asking again with the same frame, text, layout and size costs a file lookup.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..render.carousel import Box, _draw, _fit_stack  # the carousel's measured fitting, shared on purpose
from ..render.fonts import Fonts, clean_text
from .chapters import Chapter

RENDER_VERSION = "thumb-3"  # part of every cache key: bump it when the drawing changes
SIZES = {"thumb": (1280, 720), "square": (1080, 1080), "vertical": (1080, 1920)}
LAYOUTS = ("band", "panel", "top")
MAX_BYTES = 2 * 1024 * 1024  # YouTube's thumbnail limit
ACCENT = (255, 196, 0)
WHITE = (255, 255, 255)
INK = (17, 24, 39)
# A crop that would enlarge the frame more than this is soft (a 16:9 frame cropped to 9:16 is a 405-px strip
# blown up 2.7×): the frame is shown whole and sharp instead, over a blurred copy of itself ("fit" below).
# A square cover from a 720p frame (1.5×) still crops: the face fills it and it reads well at that size.
MAX_UPSCALE = 1.6
# Instagram shows a 9:16 cover cut to 4:5 in the profile grid: what matters stays in the middle 1350 px.
GRID_SAFE = 1350 / 1920


SHORT_TEXT = 32  # characters: a thumbnail's words are read at a glance, at the size of a stamp


def short_texts(chapters: list[Chapter], titles: list[str]) -> list[str]:
    """What the images may say: each chapter's key phrase, then the short title suggestions."""
    texts = [c.keywords[0].title() for c in chapters if c.keywords]
    texts += [t for t in titles if len(t) <= SHORT_TEXT]
    texts = list(dict.fromkeys(t for t in texts if t))
    return texts or [t[:SHORT_TEXT] for t in titles[:1]] or [""]


@dataclass(frozen=True)
class ImageSpec:
    """Everything an image depends on; `key()` is its cache key."""

    frame: Path
    frame_t: float
    source_key: str  # which video the frame is from (the task's content key)
    text: str
    layout: str
    kind: str  # thumb, square or vertical
    focus: tuple[float, float] = (0.5, 0.45)  # the point a crop keeps in view (a face's centre: kit/frames.py)

    def key(self) -> str:
        import hashlib

        focus = f"{self.focus[0]:.3f},{self.focus[1]:.3f}"
        parts = [RENDER_VERSION, self.source_key, f"{self.frame_t:.3f}", self.text, self.layout, self.kind, focus]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    @property
    def size(self) -> tuple[int, int]:
        return SIZES[self.kind]


@lru_cache(maxsize=8)
def decoded(frame: Path, mtime_ns: int):  # type: ignore[no-untyped-def]
    """The frame decoded once for all the images made from it (a thumbnail, the covers, a regenerate in the
    same worker); read-only afterwards, so threads may share it."""
    from PIL import Image

    with Image.open(frame) as im:
        return im.convert("RGB")


def _cover(frame: Path, size: tuple[int, int], focus: tuple[float, float]):  # type: ignore[no-untyped-def]
    """The frame scaled to fill `size`, cropped so that `focus` (a face) stays in view, as near the middle as
    the frame allows. Bilinear: under a title and a shade it looks the same as Lanczos at a third of the time
    (measured in bench/kit.py)."""
    from PIL import Image

    source = decoded(frame, frame.stat().st_mtime_ns)
    w, h = size
    scale = max(w / source.width, h / source.height)
    cw, ch = w / scale, h / scale  # the part of the frame that shows
    left = min(max(focus[0] * source.width - cw / 2, 0), source.width - cw)
    top = min(max(focus[1] * source.height - ch / 2, 0), source.height - ch)
    return source.resize(size, Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))


@lru_cache(maxsize=16)
def _gradient(size: tuple[int, int], *, start: float, end: float, top_dark: bool, strength: int = 215):  # type: ignore[no-untyped-def]
    """(box, mask): an alpha mask, 0 above `start` (fraction of the height, from the dark side's far end)
    rising to `strength` at `end`, cut to the rows where it is not 0: text on any frame stays readable without
    hiding the picture, and the paste touches only the shaded part (half the time of a whole-image paste)."""
    from PIL import Image

    w, h = size
    column = Image.new("L", (1, h))
    for y in range(h):
        f = y / h if not top_dark else 1 - y / h
        a = 0.0 if f <= start else min(1.0, (f - start) / max(end - start, 1e-6))
        column.putpixel((0, y), int(strength * a))
    top, bottom = (0, min(h, round((1 - start) * h) + 1)) if top_dark else (max(0, round(start * h) - 1), h)
    box = (0, top, w, bottom)
    return box, column.crop((0, top, 1, bottom)).resize((w, bottom - top))


def upscale(frame: Path, size: tuple[int, int]) -> float:
    """How much a crop filling `size` would enlarge `frame`."""
    source = decoded(frame, frame.stat().st_mtime_ns)
    return max(size[0] / source.width, size[1] / source.height)


def _fit(frame: Path, size: tuple[int, int], *, top: int):  # type: ignore[no-untyped-def]
    """(image, frame box): the frame at the full width, sharp, `top` px down, over a dark blurred copy of
    itself filling `size` (the colours of the shot carry to the edges, as in the reels' blurred-fill mode)."""
    from PIL import Image, ImageFilter

    source = decoded(frame, frame.stat().st_mtime_ns)
    w, h = size
    scale = w / source.width
    fw, fh = w, min(h, round(source.height * scale))
    # The background: the middle of the frame cut to the image's shape, blurred at a tenth of the size (a
    # blur of the full picture would cost ten times as much and look the same), darkened so the title and
    # the frame stand out.
    small = (max(1, w // 10), max(1, h // 10))
    cw = min(source.width, source.height * w / h)
    ch = cw * h / w
    left, up = (source.width - cw) / 2, (source.height - ch) / 2
    back = source.resize(small, Image.Resampling.BILINEAR, box=(left, up, left + cw, up + ch), reducing_gap=2.0)
    back = back.filter(ImageFilter.GaussianBlur(2.5)).point(lambda v: v * 45 // 100)
    image = back.resize(size, Image.Resampling.BILINEAR)
    shown = source if (fw, fh) == source.size else source.resize((fw, fh), Image.Resampling.BICUBIC)
    image.paste(shown, (0, top))
    return image, (0, top, fw, top + fh)


def render(spec: ImageSpec, fonts: Fonts) -> bytes:
    """The JPEG bytes of one image (< 2 MB)."""
    from PIL import Image, ImageDraw

    w, h = spec.size
    text = clean_text(spec.text, font_path=fonts.bold).upper()
    margin = round(min(w, h) * 0.06)
    portrait = h > w
    if portrait and upscale(spec.frame, spec.size) > MAX_UPSCALE:
        # A wide frame on a tall cover: the frame whole across the width in the upper part of the grid-safe
        # middle, the title large in the band under it (over it for the "top" layout).
        safe_top, safe_bottom = round(h * (1 - GRID_SAFE) / 2), round(h * (1 + GRID_SAFE) / 2)
        title_first = spec.layout == "top"
        frame_top = safe_top + (round(h * 0.3) if title_first else round(h * 0.03))
        image, (_, ft, _, fb) = _fit(spec.frame, (w, h), top=frame_top)
        draw = ImageDraw.Draw(image)
        edge = max(6, round(h * 0.004))
        draw.rectangle((0, fb, w, fb + edge), fill=ACCENT)  # the frame sits on an accent line
        if title_first:
            area = Box(margin, safe_top + margin, w - margin, ft - margin)
            valign = 1.0
        else:
            area = Box(margin, fb + edge + round(margin * 1.4), w - margin, safe_bottom)
            valign = 0.0
        largest, smallest = w * 0.14, w * 0.06
        (fitted,) = _fit_stack([(text, fonts.bold, largest, smallest)], width=area.width, height=area.height, gap=0)
        y = area.top + (area.height - fitted.height()) * valign
        _draw(draw, fitted, x=area.left, y=y, colour=WHITE, box=area, role="title")
        return _jpeg(image)
    if spec.layout == "panel" and not portrait:
        # A solid panel on the left 46 % with the title; the frame, cropped around its subject, on the right.
        panel = round(w * 0.46)
        image = Image.new("RGB", (w, h), INK)
        image.paste(_cover(spec.frame, (w - panel, h), spec.focus), (panel, 0))
        draw = ImageDraw.Draw(image)
        draw.rectangle((panel, 0, panel + round(w * 0.008), h), fill=ACCENT)
        area = Box(margin, margin, panel - margin, h - margin)
        colour = WHITE
        valign = 0.5
    else:
        image = _cover(spec.frame, (w, h), spec.focus)
        top = spec.layout == "top"
        if top:
            box, mask = _gradient((w, h), start=0.35, end=0.95, top_dark=True)
        else:
            box, mask = _gradient((w, h), start=0.3 if not portrait else 0.45, end=0.9, top_dark=False)
        image.paste((0, 0, 0), box, mask)  # in place: black through the gradient mask
        draw = ImageDraw.Draw(image)
        band = 0.5 if not portrait else 0.38
        if top:
            area = Box(margin, margin, w - margin, margin + round(h * band))
        else:
            area = Box(margin, h - margin - round(h * band), w - margin, h - margin)
        colour = ACCENT if top else WHITE
        valign = 0.0 if top else 1.0
    # Large text: at most ~3 lines; smaller only as far as needed to fit whole words.
    largest, smallest = min(w, h) * 0.16, min(w, h) * 0.06
    (fitted,) = _fit_stack([(text, fonts.bold, largest, smallest)], width=area.width, height=area.height, gap=0)
    y = area.top + (area.height - fitted.height()) * valign
    if spec.layout != "panel" or portrait:
        # An accent rule beside the text ties the layouts together and marks where the eye starts.
        rule_y = y - round(min(w, h) * 0.03) if not (spec.layout == "top") else y + fitted.height() + 12
        draw.rectangle((area.left, rule_y, area.left + round(w * 0.12), rule_y + max(6, round(h * 0.008))), fill=ACCENT)
    _draw(draw, fitted, x=area.left, y=y, colour=colour, box=area, role="title")
    return _jpeg(image)


def _jpeg(image) -> bytes:  # type: ignore[no-untyped-def]
    # Baseline JPEG without Huffman optimisation: a few % larger, much faster to write; far under 2 MB anyway.
    for quality in (88, 80, 70, 60):
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=quality)
        if buf.tell() < MAX_BYTES:
            return buf.getvalue()
    return buf.getvalue()
