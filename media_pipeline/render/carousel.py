"""An image carousel: 1080×1350 PNG slides (a cover with the title, then one per slide) and a ZIP of them.

Text is untrusted (a transcript, a model) and is only ever drawn as pixels. Every block is wrapped by its
measured pixel width (long words broken), and its font shrinks step by step until the block fits its box;
if even the smallest size does not fit, the text is cut with an ellipsis — it never leaves its box.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_output
from .fonts import Fonts, clean_text

THEMES = {
    "dark": {"bg": (17, 24, 39), "fg": (243, 244, 246), "muted": (156, 163, 175), "accent": (59, 130, 246)},
    "light": {"bg": (248, 250, 252), "fg": (17, 24, 39), "muted": (100, 116, 139), "accent": (36, 84, 214)},
}
MARGIN = 90


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

    def contains(self, other: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = other
        return x0 >= self.left and y0 >= self.top and x1 <= self.right and y1 <= self.bottom


@dataclass
class TextBlock:
    box: Box  # where the block may go
    drawn: tuple[float, float, float, float]  # the union of the drawn lines' bounding boxes
    size: int
    lines: list[str]
    truncated: bool


@dataclass
class SlideLayout:
    path: Path
    canvas: Box
    content: Box
    blocks: list[TextBlock] = field(default_factory=list)


@dataclass(frozen=True)
class CarouselResult:
    paths: list[Path]
    zip_path: Path
    layouts: list[SlideLayout]


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Lines of `text` no wider than `width` pixels; a word wider than a line is broken by characters."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=font) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while draw.textlength(word, font=font) > width:  # break a too-long word
                cut = len(word)
                while cut > 1 and draw.textlength(word[:cut], font=font) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return [ln for ln in lines if ln] or [""]


def _fit(draw, text: str, font_path: Path, box: Box, *, largest: int, smallest: int, spacing: float = 1.25):
    """(font, lines, line height, truncated): the largest size at which `text` fits `box`."""
    from PIL import ImageFont

    width, height = box.right - box.left, box.bottom - box.top
    size = largest
    while True:
        font = ImageFont.truetype(str(font_path), size)
        line_height = int(size * spacing)
        lines = _wrap(draw, text, font, width)
        if len(lines) * line_height <= height:
            return font, lines, line_height, False
        if size <= smallest:
            break
        size = max(smallest, int(size * 0.9))
    # Still too long at the smallest size: keep what fits and end it with an ellipsis.
    keep = max(1, height // line_height)
    lines = lines[:keep]
    last = lines[-1]
    while last and draw.textlength(last + "…", font=font) > width:
        last = last[:-1].rstrip()
    lines[-1] = last + "…"
    return font, lines, line_height, True


def _draw_block(draw, text: str, font_path: Path, box: Box, *, colour, largest: int, smallest: int) -> TextBlock:
    font, lines, line_height, truncated = _fit(draw, text, font_path, box, largest=largest, smallest=smallest)
    y = box.top
    drawn: list[tuple[float, float, float, float]] = []
    for line in lines:
        if line:
            draw.text((box.left, y), line, font=font, fill=colour)
            drawn.append(draw.textbbox((box.left, y), line, font=font))
        y += line_height
    if drawn:
        union = (min(b[0] for b in drawn), min(b[1] for b in drawn), max(b[2] for b in drawn), max(b[3] for b in drawn))
    else:
        union = (box.left, box.top, box.left, box.top)
    return TextBlock(box=box, drawn=union, size=font.size, lines=lines, truncated=truncated)


def _save(image, path: Path) -> None:
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)


def render_carousel(
    slides: list[Slide], *, title: str, out_dir: Path, fonts: Fonts, size: tuple[int, int] = (1080, 1350),
    theme: str = "dark", brand: str = "",
) -> CarouselResult:  # fmt: skip
    """slide-00.png (the cover: the title), slide-01.png … one per slide, and carousel.zip."""
    from PIL import Image, ImageDraw, ImageFont

    colours = THEMES.get(theme, THEMES["dark"])
    width, height = size
    canvas = Box(0, 0, width, height)
    content = Box(MARGIN, MARGIN, width - MARGIN, height - MARGIN)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(slides)
    layouts: list[SlideLayout] = []

    def page(name: str) -> tuple:
        image = Image.new("RGB", size, colours["bg"])
        return image, ImageDraw.Draw(image), SlideLayout(path=out_dir / name, canvas=canvas, content=content)

    def footer(draw, layout: SlideLayout, text: str) -> None:
        box = Box(content.left, content.bottom - 50, content.right, content.bottom)
        layout.blocks.append(
            _draw_block(draw, text, fonts.regular, box, colour=colours["muted"], largest=30, smallest=18)
        )

    # The cover.
    image, draw, layout = page("slide-00.png")
    draw.rectangle((content.left, content.top, content.left + 140, content.top + 12), fill=colours["accent"])
    title_box = Box(content.left, content.top + 80, content.right, content.bottom - 140)
    layout.blocks.append(_draw_block(draw, clean_text(title, font_path=fonts.bold), fonts.bold, title_box,
                                     colour=colours["fg"], largest=96, smallest=36))  # fmt: skip
    footer(
        draw,
        layout,
        clean_text(
            f"{brand + ' · ' if brand else ''}{total} slide{'s' if total != 1 else ''} — swipe →",
            font_path=fonts.regular,
        ),
    )
    _save(image, layout.path)
    layouts.append(layout)

    for index, slide in enumerate(slides, start=1):
        image, draw, layout = page(f"slide-{index:02d}.png")
        # The number badge.
        r = 48
        cx, cy = content.left + r, content.top + r
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colours["accent"])
        badge_font = ImageFont.truetype(str(fonts.bold), 44)
        draw.text((cx, cy), str(slide.number), font=badge_font, fill=(255, 255, 255), anchor="mm")
        heading_box = Box(content.left, content.top + 2 * r + 50, content.right, content.top + 2 * r + 50 + 380)
        body_box = Box(content.left, heading_box.bottom + 40, content.right, content.bottom - 90)
        layout.blocks.append(_draw_block(draw, clean_text(slide.heading, font_path=fonts.bold), fonts.bold,
                                         heading_box, colour=colours["fg"], largest=76, smallest=32))  # fmt: skip
        layout.blocks.append(_draw_block(draw, clean_text(slide.text, font_path=fonts.regular), fonts.regular,
                                         body_box, colour=colours["fg"], largest=50, smallest=26))  # fmt: skip
        footer(draw, layout, f"{index} / {total}")
        _save(image, layout.path)
        layouts.append(layout)

    paths = [layout.path for layout in layouts]
    zip_path = out_dir / "carousel.zip"
    with atomic_output(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in paths:
            zf.write(path, arcname=path.name)
    return CarouselResult(paths=paths, zip_path=zip_path, layouts=layouts)
