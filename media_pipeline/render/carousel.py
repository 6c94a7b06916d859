"""An image carousel: PNG slides (1080×1350 by default: a cover with the title, then one per slide) and a ZIP;
the slides are drawn in the worker's image pool (render/images.py), cached by their inputs.

Text is untrusted (a transcript, a model) and is only ever drawn as pixels. Every block is wrapped by its
measured pixel width (words wider than a line are broken), and the heading and body shrink together, step by
step, until both fit the text area; if even the smallest sizes do not fit, the text is cut with an ellipsis.
Fitting uses the glyphs' real bounding boxes, so nothing drawn ever leaves its box or the image.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_output
from ..process import CancelToken, NeverCancelled
from .fonts import Fonts, clean_text

if TYPE_CHECKING:  # PIL itself is imported lazily, where a slide is drawn
    from PIL.Image import Image as PILImage
    from PIL.ImageDraw import ImageDraw as Draw
    from PIL.ImageFont import FreeTypeFont

    from .images import ImagePool, Rendered

THEMES = {
    "dark": {
        "bg": (17, 24, 39),
        "fg": (243, 244, 246),
        "body": (209, 213, 219),
        "muted": (156, 163, 175),
        "accent": (59, 130, 246),
        "on_accent": (255, 255, 255),
    },
    "light": {
        "bg": (248, 250, 252),
        "fg": (17, 24, 39),
        "body": (51, 65, 85),
        "muted": (100, 116, 139),
        "accent": (36, 84, 214),
        "on_accent": (255, 255, 255),
    },
}
MARGIN = 0.085  # of the width: 92 px on a 1080 px slide (platforms crop edges in the grid view)
HEADING_SIZE, HEADING_MIN = 0.070, 0.026  # of the width
BODY_SIZE, BODY_MIN = 0.044, 0.020
TITLE_SIZE, TITLE_MIN = 0.092, 0.030
SHRINK = 0.92
LINE_SPACING = 1.22
ELLIPSIS = "…"


@dataclass(frozen=True)
class Slide:
    number: int
    heading: str
    text: str


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def contains(self, other: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = other
        return x0 >= self.left and y0 >= self.top and x1 <= self.right and y1 <= self.bottom


@dataclass
class TextBlock:
    box: Box  # the area the block was fitted into
    drawn: tuple[float, float, float, float]  # the union of the drawn lines' bounding boxes
    size: int
    lines: list[str]
    truncated: bool
    role: str = ""  # "title", "heading", "body", "badge", "footer"


@dataclass
class SlideLayout:
    path: Path
    canvas: Box
    content: Box  # inside the margins: every text block is drawn within it
    blocks: list[TextBlock] = field(default_factory=list)
    cached: bool = False  # not drawn by this call: the same slide was in the cache (no blocks then)


@dataclass(frozen=True)
class CarouselResult:
    paths: list[Path]
    zip_path: Path
    layouts: list[SlideLayout]
    rendered: list[Rendered] = field(default_factory=list)  # per slide: cached or not, seconds (bench.kit)


# ---------------------------------------------------------------------------------------------- text fitting


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


@lru_cache(maxsize=65536)
def _advance(font_path: str, size: int, text: str) -> float:
    return _font(font_path, size).getlength(text)


@lru_cache(maxsize=8192)
def _ink(font_path: str, size: int, text: str) -> tuple[float, float, float, float]:
    """The line's ink box drawn at (0, 0) with the left-ascender anchor, widened to its advance width."""
    left, top, right, bottom = _font(font_path, size).getbbox(text, anchor="la")
    return min(left, 0), min(top, 0), max(right, _advance(font_path, size, text)), bottom


def _ink_width(font_path: str, size: int, text: str) -> float:
    left, _, right, _ = _ink(font_path, size, text)
    return right - left if text else 0.0


def _slack(size: int) -> int:
    """Room kept free at the end of a line while wrapping by advance widths (cheap, cached per word), for
    ink that reaches past the advance; every line's real ink box is checked before a size is accepted."""
    return math.ceil(size * 0.1)


def _one_line(font_path: str, size: int, text: str, width: float) -> str:
    """`text` on one line of at most `width` pixels, cut with an ellipsis when it is longer."""
    text = " ".join(text.split())
    if _ink_width(font_path, size, text) <= width:
        return text
    while text and _ink_width(font_path, size, text + ELLIPSIS) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS if text else ""


def _break_word(font_path: str, size: int, word: str, width: float) -> list[str]:
    """A word wider than the line, cut into pieces that fit (binary search for each cut)."""
    pieces: list[str] = []
    while word and _advance(font_path, size, word) > width:
        lo, hi = 1, len(word)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _advance(font_path, size, word[:mid]) <= width:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(word[:lo])
        word = word[lo:]
    return pieces + ([word] if word else [])


def _wrap(font_path: str, size: int, text: str, width: int) -> list[str]:
    """Lines no wider than `width` pixels, filled greedily; paragraphs (newlines) start new lines.

    A line's width is taken as the sum of its words' advances and spaces (cached per word), which is what
    drawing it measures up to kerning across a space; `_slack` covers that and any overhang.
    """
    room = width - _slack(size)
    space = _advance(font_path, size, " ")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for word in paragraph.split():
            advance = _advance(font_path, size, word)
            if line and used + space + advance <= room:
                line, used = f"{line} {word}", used + space + advance
                continue
            if line:
                lines.append(line)
            *full, line = _break_word(font_path, size, word, room)
            lines.extend(full)
            used = _advance(font_path, size, line)
        if line:
            lines.append(line)
    return lines


@dataclass
class _Fitted:
    font_path: Path
    size: int
    lines: list[str]
    truncated: bool = False

    @property
    def font(self) -> FreeTypeFont:
        return _font(str(self.font_path), self.size)

    @property
    def step(self) -> int:
        return round(self.size * LINE_SPACING)

    def bounds(self) -> tuple[float, float]:
        """(top, bottom) of the ink relative to the first line's anchor: at least the font's line box, more
        where glyphs (stacked accents) reach further."""
        if not self.lines:
            return 0.0, 0.0
        path = str(self.font_path)
        inks = [_ink(path, self.size, line) for line in self.lines]
        top = min(ink[1] for ink in inks)
        bottom = max(i * self.step + ink[3] for i, ink in enumerate(inks))
        return top, max(bottom, (len(self.lines) - 1) * self.step + sum(self.font.getmetrics()))

    def height(self) -> float:
        top, bottom = self.bounds()
        return bottom - top

    def widest(self) -> float:
        return max((_ink_width(str(self.font_path), self.size, line) for line in self.lines), default=0.0)


def _truncate(fitted: _Fitted, width: int, max_height: float) -> _Fitted:
    """Keep the lines that fit `max_height` and end the last one with an ellipsis."""
    while fitted.lines and fitted.height() > max_height:
        fitted.lines.pop()
        fitted.truncated = True
    if fitted.truncated:
        path = str(fitted.font_path)
        if not fitted.lines:
            fitted.lines = [ELLIPSIS]
            if fitted.height() > max_height:
                fitted.lines = []
            return fitted
        last = fitted.lines[-1]
        while last and _ink_width(path, fitted.size, last + ELLIPSIS) > width:
            last = last[:-1]
        fitted.lines[-1] = last.rstrip() + ELLIPSIS
    return fitted


def _fit_stack(parts: list[tuple[str, Path, float, float]], *, width: int, height: int, gap: float) -> list[_Fitted]:
    """Fit text blocks stacked top to bottom (each (text, font, largest px, smallest px)) into width×height.

    1. Start every block at its largest size; wrap by measured width.
    2. While the stack (blocks + gaps between non-empty ones) is too tall or too wide, or a word is wider
       than a line, shrink every block by SHRINK, never below its smallest size: a smaller font reads
       better than a word cut in two.
    3. If no size fits without cutting words, do it again allowing words to be broken across lines.
    4. At the smallest sizes, cut the blocks from the last one up with an ellipsis until the stack fits.
    """
    for allow_break in (False, True):
        scale = 1.0
        while True:
            fitted = []
            whole_words = True
            for text, font_path, largest, smallest in parts:
                size = max(round(smallest), round(largest * scale))
                path = str(font_path)
                fitted.append(_Fitted(font_path, size, _wrap(path, size, text, width)))
                room = width - _slack(size)
                whole_words = whole_words and all(_advance(path, size, word) <= room for word in text.split())
            if (
                (whole_words or allow_break)
                and _stack_height(fitted, gap) <= height
                and all(f.widest() <= width for f in fitted)
            ):
                return fitted
            if all(f.size <= round(p[3]) for f, p in zip(fitted, parts, strict=True)):
                break
            scale *= SHRINK
    for index in range(len(fitted) - 1, -1, -1):
        above = _stack_height(fitted[:index], gap)
        space = height - above - (gap if above else 0)
        _truncate(fitted[index], width, max(space, 0))
        if _stack_height(fitted, gap) <= height:
            break
    return fitted


def _stack_height(fitted: list[_Fitted], gap: float) -> float:
    heights = [f.height() for f in fitted if f.lines]
    return sum(heights) + gap * max(len(heights) - 1, 0)


def _draw(
    draw: Draw, fitted: _Fitted, *, x: int, y: float, colour: tuple[int, int, int], box: Box, role: str
) -> TextBlock:
    """Draw the lines from (x, y) downwards; returns the block with the union of what was drawn."""
    boxes = []
    top, _ = fitted.bounds()
    for i, line in enumerate(fitted.lines):
        left = _ink(str(fitted.font_path), fitted.size, line)[0]
        # Ink reaching left of or above its origin is shifted back inside the block's box.
        at = (x - left, y - top + i * fitted.step)
        draw.text(at, line, font=fitted.font, fill=colour, anchor="la")
        boxes.append(draw.textbbox(at, line, font=fitted.font, anchor="la"))
    union = (
        (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        if boxes
        else (x, y, x, y)
    )
    return TextBlock(
        box=box, drawn=union, size=fitted.size, lines=list(fitted.lines), truncated=fitted.truncated, role=role
    )


# ---------------------------------------------------------------------------------------------- slides

RENDER_VERSION = "slide-2"  # part of every slide's cache key: bump it when the drawing changes
# PNG at zlib level 1 without the optimiser: a slide is flat colour and text, so the fastest level is within a
# third of the smallest file (≈ 100 KB instead of 75 KB for 1080×1350) at a fifth of the time (≈ 20 ms instead
# of ≈ 100 ms on this machine; bench.kit); the slides stay lossless PNGs, as the download promises.
PNG_OPTIONS = {"compress_level": 1}


@dataclass(frozen=True)
class Page:
    """Everything one slide's pixels depend on (its cache key: `key()`); `slide` None is the cover."""

    index: int  # 0 is the cover, 1… the slides (the file's number)
    title: str
    slide: Slide | None
    position: int
    total: int
    size: tuple[int, int]
    theme: str
    brand: str
    fonts: tuple[str, str]  # (regular, bold) font files

    def key(self) -> str:
        import hashlib

        slide = (self.slide.number, self.slide.heading, self.slide.text) if self.slide else None
        parts = (RENDER_VERSION, self.title, slide, self.position, self.total, self.size, self.theme, self.brand)
        return hashlib.sha256(repr((parts, self.fonts)).encode()).hexdigest()


def render_carousel(
    slides: list[Slide],
    *,
    title: str,
    out_dir: Path,
    fonts: Fonts,
    size: tuple[int, int] = (1080, 1350),
    theme: str = "dark",
    brand: str = "",
    cover: bool = True,
    pool: ImagePool | None = None,
    owner: str | None = None,
    cache_dir: Path | None = None,
    cancel: CancelToken | None = None,
) -> CarouselResult:
    """Write slide-00.png (the cover with the title, unless `cover=False`), slide-01.png … one per slide, and
    carousel.zip into `out_dir` (each via a temp name). Slides keep the given order; the badge shows
    `Slide.number`, the footer the position ("2 / 5") and `brand`.

    The slides are drawn in `pool` (the worker's image pool; by default one of one thread for this call), as
    `owner`'s work (a task's id: its job run's close settles them).
    With `cache_dir`, each slide is kept there under the hash of its inputs and linked into `out_dir`: a
    slide asked for again with the same text, position, size and theme is not drawn again (its layout then
    has `cached` set and no blocks)."""
    from .images import ImagePool, publish, wait_all

    if theme not in THEMES:
        raise ValueError(f"theme must be one of {sorted(THEMES)}, not {theme!r}")
    total = len(slides)
    common = dict(
        title=title,
        total=total,
        size=size,
        theme=theme,
        brand=brand,
        fonts=(str(fonts.regular), str(fonts.bold)),
    )
    pages = [Page(index=0, slide=None, position=0, **common)] if cover else []  # type: ignore[arg-type]
    pages += [Page(index=i, slide=s, position=i, **common) for i, s in enumerate(slides, start=1)]  # type: ignore[arg-type]
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, SlideLayout] = {}

    def draw(page: Page) -> bytes:
        import io

        image, layout = _draw_page(page, fonts, out_dir / f"slide-{page.index:02d}.png")
        buf = io.BytesIO()
        image.save(buf, format="PNG", **PNG_OPTIONS)
        drawn[page.key()] = layout
        return buf.getvalue()

    def path_for(page: Page) -> Callable[[str], Path]:
        if cache_dir is None:  # no cache: drawn every time, straight to its name
            return lambda _key: out_dir / f"slide-{page.index:02d}.png"
        return lambda key: cache_dir / f"slide-{key[:24]}.png"

    if cache_dir is None:
        for page in pages:
            (out_dir / f"slide-{page.index:02d}.png").unlink(missing_ok=True)
    own = pool is None
    runner = ImagePool(1) if pool is None else pool
    try:
        futures = [runner.submit(page, draw, path_for(page), owner=owner) for page in pages]  # type: ignore[arg-type]
        rendered = wait_all(futures, cancel or NeverCancelled())
    finally:
        if own:
            runner.close()
    layouts: list[SlideLayout] = []
    for page, done in zip(pages, rendered, strict=True):
        path = out_dir / f"slide-{page.index:02d}.png"
        if cache_dir is not None:
            publish(done.path, path)
        width, height = size
        margin = round(width * MARGIN)
        layout = drawn.get(done.key) or SlideLayout(
            path=path,
            canvas=Box(0, 0, width, height),
            content=Box(margin, margin, width - margin, height - margin),
            cached=True,
        )
        layouts.append(layout)

    paths = [layout.path for layout in layouts]
    zip_path = out_dir / "carousel.zip"
    with atomic_output(zip_path) as tmp:
        # PNGs are already compressed: store them.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in paths:
                archive.write(path, arcname=path.name)
    return CarouselResult(paths=paths, zip_path=zip_path, layouts=layouts, rendered=rendered)


def _draw_page(page: Page, fonts: Fonts, path: Path) -> tuple[PILImage, SlideLayout]:
    """One slide (or the cover) drawn: the picture and where every text block went."""
    from PIL import Image, ImageDraw

    colours = THEMES[page.theme]
    width, height = page.size
    margin = round(width * MARGIN)
    canvas = Box(0, 0, width, height)
    content = Box(margin, margin, width - margin, height - margin)
    footer_size = max(12, round(width * 0.026))
    footer_box = Box(content.left, content.bottom - round(footer_size * 1.4), content.right, content.bottom)
    brand_text = clean_text(page.brand, font_path=fonts.regular)
    total = page.total
    image = Image.new("RGB", page.size, colours["bg"])
    draw = ImageDraw.Draw(image)
    layout = SlideLayout(path=path, canvas=canvas, content=content)

    def footer(left: str, right: str) -> None:
        """Brand on the left, position on the right, one line; the brand is cut with an ellipsis if need be."""
        regular = str(fonts.regular)
        right_line = _one_line(regular, footer_size, right, footer_box.width)
        right_w = _ink_width(regular, footer_size, right_line)
        if right_line and _Fitted(fonts.regular, footer_size, [right_line]).height() <= footer_box.height:
            fitted = _Fitted(fonts.regular, footer_size, [right_line])
            x = footer_box.right - math.ceil(right_w)
            layout.blocks.append(
                _draw(draw, fitted, x=x, y=footer_box.top, colour=colours["muted"], box=footer_box, role="footer")
            )
        room = footer_box.width - math.ceil(right_w) - 2 * footer_size
        left_line = _one_line(regular, footer_size, left, room) if room > footer_size else ""
        if left_line and _Fitted(fonts.regular, footer_size, [left_line]).height() <= footer_box.height:
            fitted = _Fitted(fonts.regular, footer_size, [left_line], truncated=left_line != left)
            layout.blocks.append(
                _draw(
                    draw,
                    fitted,
                    x=footer_box.left,
                    y=footer_box.top,
                    colour=colours["muted"],
                    box=footer_box,
                    role="footer",
                )
            )

    slide = page.slide
    if slide is None:
        # The cover: an accent bar and the title, centred vertically in the space above the footer.
        bar_h = max(4, round(width * 0.011))
        draw.rectangle(
            (content.left, content.top, content.left + round(width * 0.13), content.top + bar_h), fill=colours["accent"]
        )
        area = Box(content.left, content.top + bar_h * 4, content.right, footer_box.top - round(width * 0.05))
        (title_fit,) = _fit_stack(
            [(clean_text(page.title, font_path=fonts.bold), fonts.bold, width * TITLE_SIZE, width * TITLE_MIN)],
            width=area.width,
            height=area.height,
            gap=0,
        )
        y = area.top + (area.height - title_fit.height()) / 2
        layout.blocks.append(_draw(draw, title_fit, x=area.left, y=y, colour=colours["fg"], box=area, role="title"))
        swipe = f"{total} slide{'s' if total != 1 else ''}  →" if total else ""
        footer(brand_text, swipe)
        return image, layout

    # A slide: number badge, heading, accent rule, body; the text block centred in its area.
    position = page.position
    radius = round(width * 0.045)
    badge = Box(content.left, content.top, content.left + 2 * radius, content.top + 2 * radius)
    draw.ellipse((badge.left, badge.top, badge.right - 1, badge.bottom - 1), fill=colours["accent"])
    label = clean_text(str(slide.number)) or str(position)
    inner = round(radius * 1.3)  # the square inside the circle the number may use
    (label_fit,) = _fit_stack([(label, fonts.bold, radius * 0.95, 6)], width=inner, height=inner, gap=0)
    label_h = label_fit.height()
    label_w = label_fit.widest()
    cx, cy = (badge.left + badge.right) / 2, (badge.top + badge.bottom) / 2
    layout.blocks.append(
        _draw(
            draw,
            label_fit,
            x=round(cx - label_w / 2),
            y=cy - label_h / 2,
            colour=colours["on_accent"],
            box=badge,
            role="badge",
        )
    )

    area = Box(content.left, badge.bottom + round(width * 0.06), content.right, footer_box.top - round(width * 0.05))
    rule_h, rule_gap = max(3, round(width * 0.006)), round(width * 0.035)
    gap = rule_gap * 2 + rule_h
    heading_fit, body_fit = _fit_stack(
        [
            (
                clean_text(slide.heading, font_path=fonts.bold),
                fonts.bold,
                width * HEADING_SIZE,
                width * HEADING_MIN,
            ),
            (
                clean_text(slide.text, font_path=fonts.regular, keep_newlines=True),
                fonts.regular,
                width * BODY_SIZE,
                width * BODY_MIN,
            ),
        ],
        width=area.width,
        height=area.height,
        gap=gap,
    )
    # Centre the block a little above the middle of its area: it reads as placed, not floating.
    stack = _stack_height([heading_fit, body_fit], gap)
    y = area.top + max(0.0, (area.height - stack) * 0.4)
    if heading_fit.lines:
        block = _draw(draw, heading_fit, x=area.left, y=y, colour=colours["fg"], box=area, role="heading")
        layout.blocks.append(block)
        y += heading_fit.height() + rule_gap
        if body_fit.lines:
            draw.rectangle((area.left, y, area.left + round(width * 0.09), y + rule_h - 1), fill=colours["accent"])
            y += rule_h + rule_gap
    if body_fit.lines:
        layout.blocks.append(_draw(draw, body_fit, x=area.left, y=y, colour=colours["body"], box=area, role="body"))
    footer(brand_text, f"{position} / {total}")
    return image, layout
