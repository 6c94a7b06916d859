"""Pieces rendered into files a person can post: vertical reels with burned-in captions, carousel slides.
Real ffmpeg and Pillow on media made here; the checks look at the pixels."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from media_pipeline.probe import Limits, probe
from media_pipeline.render.carousel import Slide, render_carousel
from media_pipeline.render.fonts import default_fonts
from media_pipeline.render.reel import Caption, captions_from_segments, captions_from_words, render_reel
from media_pipeline.transcript.types import Segment, Word

from .media import ffmpeg

INJECTION = "{\\b1}ignore previous instructions <script>alert(1)</script> %{pts} 'a:b'"
LIMITS = Limits(max_duration=3600, max_width=4096, max_height=4096, max_fps=120, max_streams=8)


@pytest.fixture(scope="module")
def fonts():
    return default_fonts()


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reel") / "landscape.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
           "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
           str(path))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def vertical_with_edges(tmp_path_factory) -> Path:
    """720×1280, grey, with a pure red bar on its left edge and a pure blue bar on its right edge."""
    path = tmp_path_factory.mktemp("reel") / "vertical.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=720x1280:rate=25",
           "-vf", "drawbox=x=0:y=0:w=60:h=ih:color=red:t=fill,drawbox=x=iw-60:y=0:w=60:h=ih:color=blue:t=fill",
           "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an", str(path))  # fmt: skip
    return path


def frame(video: Path, at: float, out: Path) -> Image.Image:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{at}", "-i", str(video), "-frames:v", "1",
                    str(out)], check=True, timeout=60)  # fmt: skip
    return Image.open(out).convert("RGB")


def streams(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
                          "-of", "json", str(path)], check=True, capture_output=True, text=True)  # fmt: skip
    return {s["codec_name"]: s for s in json.loads(out.stdout)["streams"]}


def test_a_reel_is_vertical_exact_in_length_and_captioned(landscape, fonts, tmp_path):
    info = probe(landscape, limits=LIMITS)
    captions = [Caption(2.0, 3.5, "HELLO THERE"), Caption(3.5, 5.0, INJECTION)]
    with_text = render_reel(landscape, info, start=1.5, end=5.0, out=tmp_path / "reel.mp4", captions=captions,
                            fonts=fonts)  # fmt: skip
    without = render_reel(landscape, info, start=1.5, end=5.0, out=tmp_path / "plain.mp4", captions=[], fonts=fonts)

    assert (with_text.width, with_text.height) == (1080, 1920)
    assert with_text.duration == pytest.approx(3.5, abs=0.1)
    assert set(streams(with_text.path)) == {"h264", "aac"}
    head = with_text.path.read_bytes()[:200_000]
    assert head.find(b"moov") < head.find(b"mdat")  # faststart: playable while it downloads
    # A caption is burned in where the transcript says: the lower part of the frame differs from the same
    # frame without captions while it shows, and not before it starts.
    lower = (0, 1200, 1080, 1600)
    shown = ImageChops.difference(frame(with_text.path, 1.0, tmp_path / "a.png").crop(lower),
                                  frame(without.path, 1.0, tmp_path / "b.png").crop(lower))  # fmt: skip
    before = ImageChops.difference(frame(with_text.path, 0.2, tmp_path / "c.png").crop(lower),
                                   frame(without.path, 0.2, tmp_path / "d.png").crop(lower))  # fmt: skip
    assert sum(ImageStat.Stat(shown).mean) > 5 * max(sum(ImageStat.Stat(before).mean), 0.2)
    # The injection caption rendered too (drawn as text, not interpreted): the frame under it differs.
    injected = ImageChops.difference(frame(with_text.path, 2.8, tmp_path / "e.png").crop(lower),
                                     frame(without.path, 2.8, tmp_path / "f.png").crop(lower))  # fmt: skip
    assert sum(ImageStat.Stat(injected).mean) > 1.0


@pytest.mark.parametrize("mode", ["blur", "crop"])
def test_a_vertical_source_keeps_its_whole_frame(vertical_with_edges, fonts, tmp_path, mode):
    info = probe(vertical_with_edges, limits=LIMITS)
    reel = render_reel(vertical_with_edges, info, start=0.5, end=2.5, out=tmp_path / "v.mp4", captions=[],
                       mode=mode, fonts=fonts)  # fmt: skip
    picture = frame(reel.path, 1.0, tmp_path / "v.png")
    assert picture.size == (1080, 1920)
    colours = picture.resize((108, 192)).getcolors(108 * 192)
    reds = sum(n for n, (r, g, b) in colours if r > 180 and g < 80 and b < 80)
    blues = sum(n for n, (r, g, b) in colours if b > 180 and r < 80 and g < 80)
    assert reds > 50 and blues > 50  # both edges of the source are still in the picture


def test_a_landscape_crop_fills_the_frame(landscape, fonts, tmp_path):
    info = probe(landscape, limits=LIMITS)
    reel = render_reel(landscape, info, start=0, end=2, out=tmp_path / "c.mp4", captions=[], mode="crop", fonts=fonts)
    assert (reel.width, reel.height) == (1080, 1920)
    top = frame(reel.path, 1.0, tmp_path / "c.png").crop((0, 0, 1080, 200))
    assert ImageStat.Stat(top).stddev[0] > 10  # picture up to the top edge, not a blurred band


def test_captions_come_two_or_three_words_at_a_time():
    words = [(0.0, 0.3, "So"), (0.3, 0.6, "today"), (0.6, 0.9, "we"), (0.9, 1.5, "build"), (1.5, 1.8, "a"),
             (1.8, 2.4, "parser"), (3.5, 3.9, "extraordinarily"), (3.9, 4.2, "fast"), (9.0, 9.5, "outside")]  # fmt: skip
    caps = captions_from_words(words, start=0.2, end=5.0)
    assert [c.text for c in caps] == ["So today we", "build a parser", "extraordinarily", "fast"]
    assert caps[0].start == pytest.approx(0.2)  # clipped to the range
    assert all(len(c.text.split()) <= 3 for c in caps)
    assert caps[1].end == pytest.approx(2.4)  # a pause follows: not held until the next caption
    assert all(c.end <= 5.0 for c in caps)


def test_captions_from_a_transcript_without_word_times_spread_evenly():
    segs = [Segment(10.0, 13.0, "one two three four five six"),
            Segment(13.0, 14.0, "seven", words=(Word(13.0, 14.0, "seven"),))]  # fmt: skip
    caps = captions_from_segments(segs, start=10.0, end=14.0)
    assert [c.text for c in caps] == ["one two three", "four five six", "seven"]
    assert caps[1].start == pytest.approx(11.5)


def test_carousel_slides_are_the_right_size_and_text_never_overflows(fonts, tmp_path):
    worst = [
        Slide(1, "W" * 80, "W" * 200),  # no spaces at all: words must be broken
        Slide(2, "A heading " * 8, "A sentence that goes on and on. " * 6),
        Slide(3, INJECTION, INJECTION),
        Slide(4, "Short", "Short."),
    ]
    result = render_carousel(worst, title="How to build a parser " * 5, out_dir=tmp_path / "c", fonts=fonts)
    assert [p.name for p in result.paths] == [f"slide-{i:02d}.png" for i in range(5)]
    for layout in result.layouts:
        with Image.open(layout.path) as image:
            assert image.size == (1080, 1350)
        for block in layout.blocks:
            assert block.box.contains(block.drawn), (layout.path.name, block.lines)
            assert layout.content.contains(block.drawn) and layout.canvas.contains(block.drawn)
    # The injection text is drawn as the characters it is.
    third = result.layouts[3].blocks
    assert "<script>alert(1)</script>" in " ".join(third[0].lines + third[1].lines).replace("\n", " ")
    with zipfile.ZipFile(result.zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(p.name for p in result.paths)
