"""Find the fonts the piece renderers draw with, and clean untrusted text so it draws literally."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import MediaError

# Debian/Ubuntu `fonts-dejavu-core`, then the other places distributions and macOS/Homebrew put DejaVu.
SEARCH_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/opt/homebrew/share/fonts"),
    Path("/Library/Fonts"),
)
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"
MAX_MARKS = 2


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path


def default_fonts(path: Path | str | None = None) -> Fonts:
    """The DejaVu Sans pair. `path` may be a folder holding both files, or one .ttf used for both weights.

    Raises MediaError (an operator-facing sentence: the fix is to install a package or set a path).
    """
    candidates: list[Path]
    if path:
        given = Path(path)
        if given.is_file():
            return Fonts(regular=given, bold=given)
        candidates = [given]
    else:
        candidates = list(SEARCH_DIRS)
    for folder in candidates:
        regular, bold = folder / REGULAR, folder / BOLD
        if regular.is_file() and bold.is_file():
            return Fonts(regular=regular, bold=bold)
    where = ", ".join(str(c) for c in candidates)
    raise MediaError(
        "The fonts needed to draw captions and slides are missing. Install the fonts-dejavu-core package "
        "or point the font setting at a folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf.",
        detail=f"looked for {REGULAR} and {BOLD} in: {where}",
    )


@lru_cache(maxsize=16)
def _notdef_mask(font_path: str) -> tuple:
    from PIL import ImageFont

    font = ImageFont.truetype(font_path, 32, layout_engine=ImageFont.Layout.BASIC)
    mask = font.getmask("\U0010fffd")  # a private-use code point no text font draws: its glyph is .notdef
    return (mask.size, bytes(mask))


@lru_cache(maxsize=4096)
def has_glyph(font_path: str, char: str) -> bool:
    """True when the font draws `char` itself rather than its empty-box .notdef glyph.

    Pillow has no glyph-lookup call, so compare the character's bitmap with .notdef's (cached per char).
    """
    if char.isascii():
        return True
    from PIL import ImageFont

    font = ImageFont.truetype(font_path, 32, layout_engine=ImageFont.Layout.BASIC)
    mask = font.getmask(char)
    return (mask.size, bytes(mask)) != _notdef_mask(font_path)


def clean_text(text: str, *, font_path: Path | None = None, keep_newlines: bool = False) -> str:
    """Make untrusted text safe to draw as it reads.

    1. Line and paragraph separators, tabs and (unless `keep_newlines`) newlines become spaces.
    2. Control, format (bidi overrides, zero-width joiners), private-use and surrogate characters are dropped:
       they are invisible or reorder what is drawn, so a caption could not be read as written.
    3. With `font_path`, characters the font has no glyph for (emoji, CJK in DejaVu) are dropped rather than
       drawn as empty boxes.
    4. At most MAX_MARKS combining marks are kept on one base character: "Zalgo" text stacks dozens, which
       would reach far outside any box its line was measured for.
    5. Runs of spaces collapse to one; each line is stripped.
    Markup (`{\\b1}`, `%{…}`, `<script>`) is NOT touched: the renderers draw it literally, never interpret it.
    """
    out: list[str] = []
    marks = 0
    for ch in unicodedata.normalize("NFC", text):
        if unicodedata.category(ch) in ("Mn", "Me"):
            marks += 1
            if marks > MAX_MARKS:
                continue
        else:
            marks = 0
        if ch == "\n" and keep_newlines:
            out.append("\n")
            continue
        category = unicodedata.category(ch)
        if ch in "\t\r\n\v\f\u2028\u2029\x85" or category in ("Zs", "Zl", "Zp"):
            out.append(" ")
        elif category in ("Cc", "Cf", "Co", "Cs", "Cn"):
            continue
        elif font_path is not None and not has_glyph(str(font_path), ch):
            continue
        else:
            out.append(ch)
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    return "\n".join(lines).strip()
