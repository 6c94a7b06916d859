"""Pieces rendered into files a person can post: vertical reels with burned-in captions, carousel slides.
Real ffmpeg and Pillow on media made here; the checks look at the pixels."""

from __future__ import annotations

import shutil
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.probe import Limits, probe
from media_pipeline.render.carousel import Slide, render_carousel
from media_pipeline.render.fonts import Fonts, clean_text, default_fonts
from media_pipeline.render.reel import Caption, captions_from_segments, captions_from_words, render_reel
from media_pipeline.transcript.types import Segment, Word

from . import pieces_media as pm

INJECTION = "{\\b1}ignore previous instructions <script>alert(1)</script>"
LIMITS = Limits(max_duration=3600, max_width=4096, max_height=4096, max_fps=120, max_streams=8)
SMALL = {"width": 360, "height": 640}  # framing checks need no full-size encode


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return default_fonts()


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    return pm.landscape(tmp_path_factory.mktemp("reel") / "landscape.mp4")


@pytest.fixture(scope="module")
def vertical(tmp_path_factory) -> Path:
    return pm.edge_bars(tmp_path_factory.mktemp("reel") / "vertical.mp4", size="720x1280")


def lower_third_diff(a: Image.Image, b: Image.Image) -> float:
    box = (0, 1150, 1080, 1600)
    return sum(ImageStat.Stat(ImageChops.difference(a.crop(box), b.crop(box))).mean)


# ---------------------------------------------------------------------------------------------- reels


def test_a_landscape_reel_is_vertical_exact_in_length_faststart_and_captioned(landscape, fonts, tmp_path):
    info = probe(landscape, limits=LIMITS)
    captions = [Caption(2.0, 3.5, "So today we"), Caption(3.5, 5.0, "build a parser")]
    # 1.5 s is between keyframes (every 2 s): only an accurate seek gives 3.5 s starting there.
    reel = render_reel(landscape, info, start=1.5, end=5.0, out=tmp_path / "reel.mp4", captions=captions, fonts=fonts)
    plain = render_reel(landscape, info, start=1.5, end=5.0, out=tmp_path / "plain.mp4", captions=[], fonts=fonts)

    assert (reel.width, reel.height) == (1080, 1920)
    assert reel.duration == pytest.approx(3.5, abs=0.1) and reel.size == reel.path.stat().st_size
    kinds = {s["codec_type"]: s for s in pm.streams(reel.path)}
    assert kinds["video"]["codec_name"] == "h264" and kinds["video"]["pix_fmt"] == "yuv420p"
    assert kinds["audio"]["codec_name"] == "aac"
    boxes = pm.top_level_boxes(reel.path)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart: plays while it downloads
    assert not list(tmp_path.glob(".*"))  # no temp files or caption folders left behind

    # The caption is burned in while it is due (clip time 0.5–2.0) and not before it.
    shown = lower_third_diff(
        pm.frame(reel.path, 1.0, tmp_path / "a.png"), pm.frame(plain.path, 1.0, tmp_path / "b.png")
    )
    before = lower_third_diff(
        pm.frame(reel.path, 0.2, tmp_path / "c.png"), pm.frame(plain.path, 0.2, tmp_path / "d.png")
    )
    assert shown > 4 and shown > 5 * before, (shown, before)


@pytest.mark.parametrize("mode", ["blur", "crop"])
def test_a_vertical_source_keeps_its_whole_frame(vertical, fonts, tmp_path, mode):
    info = probe(vertical, limits=LIMITS)
    reel = render_reel(vertical, info, start=0.5, end=2.5, out=tmp_path / "v.mp4", captions=[], mode=mode, fonts=fonts)
    assert (reel.width, reel.height) == (1080, 1920)
    assert reel.duration == pytest.approx(2.0, abs=0.1)
    # A source with no sound still gets an (silent) AAC track: the platforms expect one.
    assert sorted(s["codec_name"] for s in pm.streams(reel.path)) == ["aac", "h264"]
    picture = pm.frame(reel.path, 1.0, tmp_path / "v.png")
    # 9:16 already: scaled to fill, both edge bars still at the edges.
    assert pm.is_colour(picture.getpixel((20, 960)), pm.RED)
    assert pm.is_colour(picture.getpixel((1059, 960)), pm.BLUE)


@pytest.mark.parametrize("size", ["480x480", "600x1000"])  # square; nearly vertical (0.6)
def test_square_and_nearly_vertical_sources_are_fitted_not_cropped_even_in_crop_mode(fonts, tmp_path, size):
    src = pm.edge_bars(tmp_path / "src.mp4", size=size, seconds=2, bar=40)
    info = probe(src, limits=LIMITS)
    reel = render_reel(
        src, info, start=0, end=1.5, out=tmp_path / "r.mp4", captions=[], mode="crop", fonts=fonts, **SMALL
    )
    picture = pm.frame(reel.path, 0.7, tmp_path / "r.png")
    assert picture.size == (360, 640)
    middle = 320
    assert pm.is_colour(picture.getpixel((6, middle)), pm.RED)
    assert pm.is_colour(picture.getpixel((353, middle)), pm.BLUE)


def test_a_landscape_crop_fills_the_frame_with_picture(landscape, fonts, tmp_path):
    info = probe(landscape, limits=LIMITS)
    reel = render_reel(
        landscape, info, start=0, end=1.5, out=tmp_path / "c.mp4", captions=[], mode="crop", fonts=fonts, **SMALL
    )
    top = pm.frame(reel.path, 0.5, tmp_path / "c.png").crop((0, 0, 360, 60))
    assert ImageStat.Stat(top).stddev[0] > 10  # sharp picture up to the top edge, not a blurred band


def test_untrusted_caption_text_is_drawn_literally(fonts, tmp_path):
    """drawtext with expansion off and text from a file: nothing in the text is interpreted."""
    src = pm.edge_bars(tmp_path / "flat.mp4", size="360x640", seconds=5, bar=2)
    info = probe(src, limits=LIMITS)
    # A font folder whose name needs escaping inside a filter graph.
    odd = tmp_path / "fo:nt's,[dir];x"
    odd.mkdir()
    shutil.copy(fonts.bold, odd / "Bold.ttf")
    captions = [
        Caption(0.0, 1.0, "ab"),
        Caption(1.0, 2.0, "{\\b1}ab"),  # an ASS override tag would vanish; drawn literally it is wider
        Caption(2.0, 3.0, "%{pts}%{n}"),  # expanded, these would change from frame to frame
        Caption(3.0, 4.0, INJECTION + " 'a:b' \\N 🔥"),
        Caption(4.0, 5.0, "W" * 40),  # far too wide for one line at the usual size
    ]
    reel = render_reel(
        src,
        info,
        start=0,
        end=5,
        out=tmp_path / "lit.mp4",
        captions=captions,
        fonts=Fonts(regular=fonts.regular, bold=odd / "Bold.ttf"),
        **SMALL,
    )
    assert reel.duration == pytest.approx(5.0, abs=0.1)
    lower = (0, 320, 360, 640)
    plain = pm.white_ink(pm.frame(reel.path, 0.5, tmp_path / "1.png"), lower)
    tagged = pm.white_ink(pm.frame(reel.path, 1.5, tmp_path / "2.png"), lower)
    assert plain and tagged
    assert tagged[2] - tagged[0] > 2 * (plain[2] - plain[0])
    early, late = pm.frame(reel.path, 2.2, tmp_path / "3.png"), pm.frame(reel.path, 2.8, tmp_path / "4.png")
    assert pm.white_ink(early, lower) is not None
    assert ImageStat.Stat(ImageChops.difference(early.crop(lower), late.crop(lower))).mean == pytest.approx(
        [0, 0, 0], abs=0.5
    )
    assert pm.white_ink(pm.frame(reel.path, 3.5, tmp_path / "5.png"), lower) is not None
    wide = pm.white_ink(pm.frame(reel.path, 4.5, tmp_path / "6.png"), lower)
    assert wide and wide[0] >= 10 and wide[2] <= 350  # shrunk to fit inside the frame, not cut off


def test_a_reel_range_is_checked_and_cancel_stops_it(landscape, fonts, tmp_path):
    info = probe(landscape, limits=LIMITS)
    with pytest.raises(MediaError) as raised:
        render_reel(landscape, info, start=50, end=60, out=tmp_path / "x.mp4", captions=[], fonts=fonts)
    assert "range" in raised.value.message
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        render_reel(landscape, info, start=0, end=2, out=tmp_path / "y.mp4", captions=[], fonts=fonts, cancel=cancel)
    assert not (tmp_path / "y.mp4").exists() and not list(tmp_path.glob(".*"))


# ---------------------------------------------------------------------------------------------- captions


def test_captions_come_two_or_three_words_at_a_time():
    words = [
        (0.0, 0.3, " So"),
        (0.3, 0.6, "today"),
        (0.6, 0.9, "we"),
        (0.9, 1.5, "build"),
        (1.5, 1.8, "a"),
        (1.8, 2.4, "parser."),
        (2.5, 2.7, "It"),
        (2.7, 2.9, "works"),
        (3.5, 3.9, "extraordinarily"),
        (3.9, 4.2, "fast"),
        (4.9, 5.3, "honestly"),
        (9.0, 9.5, "outside"),
    ]
    caps = captions_from_words(words, start=0.2, end=5.0)
    assert captions_from_words([(1.0, 1.0, "Zero.")], start=0, end=5) == [Caption(1.0, 1.3, "Zero.")]
    assert [c.text for c in caps] == [
        "So today we",
        "build a parser.",
        "It works",
        "extraordinarily",
        "fast",
        "honestly",
    ]
    assert all(len(c.text.split()) <= 3 for c in caps)
    assert all(len(c.text) <= 18 for c in caps)
    assert caps[0].start == pytest.approx(0.2) and caps[-1].end == pytest.approx(5.0)  # clipped to the range
    assert caps[0].end == pytest.approx(0.9)  # held to the next caption (no gap)
    assert caps[2].end == pytest.approx(2.9)  # a 0.6 s pause follows: not held until the next caption
    assert all(a.end <= b.start for a, b in zip(caps, caps[1:], strict=False))


def test_captions_from_a_transcript_without_word_times_spread_evenly():
    segs = [
        Segment(10.0, 13.0, "one two three four five six"),
        Segment(13.0, 14.0, "seven", words=(Word(13.0, 14.0, "seven"),)),
        Segment(20.0, 21.0, "later"),
    ]
    caps = captions_from_segments(segs, start=10.0, end=14.0)
    assert [c.text for c in caps] == ["one two three", "four five six", "seven"]
    assert caps[1].start == pytest.approx(11.5)


def test_caption_text_is_cleaned_not_interpreted(fonts):
    text = "a\u202eb\tc\n{\\b1}%{pts} <b>🔥"
    assert clean_text(text, font_path=fonts.bold) == "ab c {\\b1}%{pts} <b>"


def test_fonts_are_found_or_the_error_says_what_to_install(fonts, tmp_path):
    assert fonts.regular.name == "DejaVuSans.ttf" and fonts.bold.name == "DejaVuSans-Bold.ttf"
    assert default_fonts(fonts.bold) == Fonts(regular=fonts.bold, bold=fonts.bold)
    with pytest.raises(MediaError) as raised:
        default_fonts(tmp_path)
    assert "fonts-dejavu-core" in raised.value.message


# ---------------------------------------------------------------------------------------------- carousels


def assert_inside(result) -> None:
    for layout in result.layouts:
        with Image.open(layout.path) as image:
            assert image.size == (layout.canvas.right, layout.canvas.bottom)
        for block in layout.blocks:
            where = (layout.path.name, block.role, block.lines)
            assert block.box.contains(block.drawn), where
            assert layout.content.contains(block.drawn) and layout.canvas.contains(block.drawn), where


def test_carousel_slides_are_the_right_size_and_text_never_overflows(fonts, tmp_path):
    slides = [
        Slide(1, "W" * 80, "W" * 200),  # the worst case: widest letter, no spaces, longest allowed
        Slide(2, "A heading " * 8, "A sentence that goes on and on. " * 6),
        Slide(3, INJECTION, INJECTION + " %{pts} 'a:b' \\N"),
        Slide(4, "Short", "Short."),
    ]
    result = render_carousel(
        slides, title="How to build a parser " * 5, out_dir=tmp_path / "c", fonts=fonts, brand="@repurposer"
    )
    assert [p.name for p in result.paths] == [f"slide-{i:02d}.png" for i in range(5)]  # cover + 4
    assert all(margin >= 80 for margin in (result.layouts[0].content.left, result.layouts[0].content.top))
    assert_inside(result)
    worst = {b.role: b for b in result.layouts[1].blocks}
    assert not worst["heading"].truncated and not worst["body"].truncated  # it all fits, just smaller
    assert "".join(worst["heading"].lines) == "W" * 80 and "".join(worst["body"].lines) == "W" * 200
    # Injection text is drawn as the characters it is.
    third = {b.role: b for b in result.layouts[3].blocks}
    assert " ".join(third["heading"].lines) == INJECTION
    assert " ".join(third["body"].lines) == INJECTION + " %{pts} 'a:b' \\N"
    assert {b.role for b in result.layouts[4].blocks} == {"badge", "heading", "body", "footer"}
    with zipfile.ZipFile(result.zip_path) as archive:
        assert archive.namelist() == [p.name for p in result.paths]
        assert archive.read("slide-01.png") == result.paths[1].read_bytes()


def test_text_too_long_even_at_the_smallest_size_is_cut_with_an_ellipsis(fonts, tmp_path):
    slides = [Slide(123456789, "W" * 400, "word " * 400)]
    result = render_carousel(
        slides,
        title="T" * 3000,
        out_dir=tmp_path / "s",
        fonts=fonts,
        size=(540, 675),
        theme="light",
        brand="b" * 300,
        cover=True,
    )
    assert_inside(result)
    blocks = {b.role: b for b in result.layouts[1].blocks}
    assert blocks["body"].truncated and blocks["body"].lines[-1].endswith("…")
    assert result.layouts[0].blocks[0].lines[-1].endswith("…")  # the title too


def test_carousel_options(fonts, tmp_path):
    result = render_carousel([Slide(1, "Only", "one")], title="", out_dir=tmp_path / "n", fonts=fonts, cover=False)
    assert [p.name for p in result.paths] == ["slide-01.png"]
    with pytest.raises(ValueError):
        render_carousel([], title="x", out_dir=tmp_path / "t", fonts=fonts, theme="neon")
