"""The image pool beyond the kit's own images: carousel slides and reel posters drawn in it and cached by their
inputs, and the 9:16 cover of a wide frame (the frame whole and sharp, not a strip blown up). Real Pillow and
ffmpeg; the frames are a real photo (Debian's opencv-doc aloeL.jpg) where sharpness is what is looked at."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_pipeline.errors import MediaError
from media_pipeline.kit.frames import grab_frames
from media_pipeline.kit.thumbnails import MAX_UPSCALE, ImageSpec, render, upscale
from media_pipeline.render.carousel import Slide, render_carousel
from media_pipeline.render.fonts import default_fonts
from media_pipeline.render.images import ImagePool, publish, shared
from media_pipeline.render.reel import Poster, poster_jpeg

from .media import h264_aac

PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/aloeL.jpg")
needs_photo = pytest.mark.skipif(not PHOTO.is_file(), reason="needs Debian's opencv-doc (make system-test)")


def sharpness(image: Image.Image) -> float:
    a = np.asarray(image.convert("L"), dtype=np.float32)
    return float((-4 * a[1:-1, 1:-1] + a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:]).var())


def photo_frame(out: Path, size: tuple[int, int]) -> Path:
    """The photo cut to `size`'s shape and scaled to it, saved as the frame sheet saves frames (JPEG)."""
    with Image.open(PHOTO) as im:
        src = im.convert("RGB")
    w, h = size
    cw = min(src.width, src.height * w / h)
    ch = cw * h / w
    left, top = (src.width - cw) / 2, (src.height - ch) / 2
    src.resize(size, Image.Resampling.LANCZOS, box=(left, top, left + cw, top + ch)).save(out, quality=92)
    return out


@needs_photo
def test_a_vertical_cover_of_a_wide_frame_shows_it_whole_and_sharp(tmp_path):
    fonts = default_fonts()
    wide = photo_frame(tmp_path / "wide.jpg", (1280, 720))
    assert upscale(wide, (1080, 1920)) > MAX_UPSCALE  # a 9:16 crop of it would be a 405-px strip × 2.7
    spec = ImageSpec(wide, 10.0, "k", "Tomato Plants In Pots", "band", "vertical")
    out = tmp_path / "vertical.jpg"
    out.write_bytes(render(spec, fonts))
    with Image.open(out) as im:
        cover = im.convert("RGB")
    assert cover.size == (1080, 1920)
    # The frame is in it at the full width, scaled down (not up): find its rows and compare the pixels.
    with Image.open(wide) as im:
        expected = np.asarray(im.convert("RGB").resize((1080, 608), Image.Resampling.BICUBIC), dtype=np.int16)
    pixels = np.asarray(cover, dtype=np.int16)
    errors = [np.abs(pixels[top : top + 608] - expected).mean() for top in range(0, 1920 - 608)]
    top = int(np.argmin(errors))
    assert errors[top] < 4, "the whole frame is in the cover, unchanged but for the JPEG"
    # Inside the middle 1350 rows Instagram's grid keeps, with the title below it in the same band.
    assert 285 <= top and top + 608 <= 1635
    title = cover.crop((0, top + 640, 1080, 1635))
    assert (np.asarray(title.convert("L")) > 240).mean() > 0.03, "white title text under the frame"
    # Sharper than the old way (the frame cropped to 9:16 and enlarged 2.7×), by far.
    strip = Image.open(wide).convert("RGB").crop((438, 0, 843, 720)).resize((1080, 1920), Image.Resampling.BILINEAR)
    assert sharpness(cover.crop((0, top, 1080, top + 608))) > 3 * sharpness(strip.crop((0, 656, 1080, 1264)))


@needs_photo
def test_a_tall_frame_still_fills_the_vertical_cover(tmp_path):
    fonts = default_fonts()
    tall = photo_frame(tmp_path / "tall.jpg", (1080, 1920))
    assert upscale(tall, (1080, 1920)) <= MAX_UPSCALE
    out = tmp_path / "vertical.jpg"
    out.write_bytes(render(ImageSpec(tall, 1.0, "k", "Aloe", "band", "vertical"), fonts))
    with Image.open(out) as im, Image.open(tall) as frame:
        top = np.asarray(im.convert("RGB").crop((0, 0, 1080, 500)), dtype=np.int16)
        want = np.asarray(frame.convert("RGB").crop((0, 0, 1080, 500)), dtype=np.int16)
    assert np.abs(top - want).mean() < 4  # the frame itself, edge to edge (the shade is lower down)


def test_a_tall_video_is_grabbed_at_the_covers_width_and_a_wide_one_at_720p(tmp_path):
    tall = h264_aac(tmp_path / "tall.mp4", seconds=3, size="1216x2160", gop=12)  # odd size, 4K-tall phone video
    wide = h264_aac(tmp_path / "wide.mp4", seconds=3, size="1918x1080", gop=12)
    small = h264_aac(tmp_path / "small.mp4", seconds=3, size="478x850", gop=12)
    sizes = {}
    for video in (tall, wide, small):
        (frame,) = grab_frames(video, [1.0], out_dir=tmp_path / video.stem).values()
        with Image.open(frame) as im:
            sizes[video.stem] = im.size
    assert sizes["tall"] == (1080, 1918)  # 1216×2160 scaled to the cover's width, even height
    assert sizes["wide"][1] == 720 and abs(sizes["wide"][0] - 1279) <= 1
    assert sizes["small"] == (478, 850)  # never enlarged


def test_carousel_slides_are_drawn_in_the_pool_and_the_same_slides_again_cost_nothing(tmp_path):
    fonts = default_fonts()
    slides = [Slide(i, f"Step {i}: water the roots", "Deep watering twice a week. " * 3) for i in range(1, 5)]
    cache = tmp_path / "images"
    with ImagePool(2) as pool:
        first = render_carousel(
            slides, title="Tomatoes", out_dir=tmp_path / "v1", fonts=fonts, pool=pool, cache_dir=cache
        )
        assert [p.name for p in first.paths] == [f"slide-{i:02d}.png" for i in range(5)]
        assert not any(layout.cached for layout in first.layouts)
        assert {b.role for b in first.layouts[2].blocks} == {"badge", "heading", "body", "footer"}
        drawn = {p.name: p.read_bytes() for p in first.paths}
        # A new version of the piece with one slide changed: only that slide is drawn again.
        changed = [*slides[:3], Slide(4, "Step 4: pick them red", "When they give a little.")]
        second = render_carousel(
            changed, title="Tomatoes", out_dir=tmp_path / "v2", fonts=fonts, pool=pool, cache_dir=cache
        )
    assert [layout.cached for layout in second.layouts] == [True, True, True, True, False]
    for path in second.paths[:4]:
        assert path.read_bytes() == drawn[path.name]
        assert path.stat().st_nlink == 3  # hard links to the one cached file (v1's and v2's): no bytes copied
    assert second.paths[4].read_bytes() != drawn["slide-04.png"]
    assert len(list(cache.glob("slide-*.png"))) == 6
    with zipfile.ZipFile(second.zip_path) as archive:
        assert archive.read("slide-04.png") == second.paths[4].read_bytes()
    with Image.open(second.paths[1]) as im:
        assert im.format == "PNG" and im.size == (1080, 1350)


def test_a_reel_poster_is_grabbed_in_the_pool_and_cached_by_the_reel_file(tmp_path):
    reel = h264_aac(tmp_path / "reel.mp4", seconds=4, size="404x720", rate=30, gop=30)
    pool = shared(2)
    assert shared(2) is pool  # one pool per worker process

    def poster(at: float):
        return pool.submit(Poster(reel, at), poster_jpeg, lambda key: tmp_path / "images" / f"{key[:24]}.jpg").result()

    made = poster(1.5)
    assert not made.cached
    with Image.open(made.path) as im:
        assert im.format == "JPEG" and im.size == (404, 720)
    assert poster(1.5).cached and poster(1.5).path == made.path
    assert not poster(2.5).cached  # another time, another poster
    # The reel written again (a regenerate): the old poster is not reused.
    st = reel.stat()
    os.utime(reel, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not poster(1.5).cached
    at = publish(made.path, tmp_path / "pieces" / "reel-v1.jpg")
    assert at.read_bytes() == made.path.read_bytes()


def test_a_poster_past_the_end_of_the_reel_says_so(tmp_path):
    reel = h264_aac(tmp_path / "reel.mp4", seconds=2, size="404x720", rate=30, gop=30)
    with pytest.raises(MediaError) as raised:
        poster_jpeg(Poster(reel, 30.0))
    assert raised.value.message == "We could not take a poster frame from the reel."


def test_carousel_slides_are_their_tasks_work_in_the_pool_so_its_close_settles_them(tmp_path):
    import threading
    import time

    gate = threading.Event()

    class Busy:
        def key(self) -> str:
            return "busy"

    slides = [Slide(i, f"Step {i}: water the roots", "Deep watering twice a week.") for i in range(1, 4)]
    ended: list[BaseException] = []

    def carousel() -> None:
        try:
            render_carousel(slides, title="Tomatoes", out_dir=tmp_path / "v1", fonts=default_fonts(), pool=pool,
                            cache_dir=tmp_path / "images", owner="task-1")  # fmt: skip
        except BaseException as exc:
            ended.append(exc)

    with ImagePool(1) as pool:
        # The pool's one thread is busy with another job's image: the slides wait in the queue.
        other = pool.submit(Busy(), lambda spec: gate.wait(30) and b"x", lambda k: tmp_path / "busy.bin", owner="other")
        drawing = threading.Thread(target=carousel)
        drawing.start()
        for _ in range(1000):
            if pool.busy("task-1") == len(slides) + 1:  # the cover and a slide each
                break
            time.sleep(0.01)
        assert pool.busy("task-1") == len(slides) + 1
        assert pool.settle("task-1", timeout=5)  # the task's job run closes: its queued slides are dropped
        drawing.join(timeout=30)
        assert ended and not list((tmp_path / "v1").glob("slide-*.png"))
        gate.set()
        assert other.result().path.read_bytes() == b"x"  # the other job's image is not touched
