"""Speaker-aware reels: a real face photo (Debian's opencv-doc sample messi5.jpg) moved across a generated frame
is found and followed by a smooth crop; footage without faces falls back to motion, then to the blurred fill;
libass captions draw text literally; silences are cut out as jump cuts. Real ffmpeg and OpenCV throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from media_pipeline.probe import Limits, probe
from media_pipeline.render import framing
from media_pipeline.render.captions import escape, libass_available
from media_pipeline.render.cuts import plan_cuts
from media_pipeline.render.fonts import Fonts, default_fonts
from media_pipeline.render.reel import Caption, render_reel

from . import pieces_media as pm
from .media import ffmpeg, kept

PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
LIMITS = Limits(max_duration=3600, max_width=4096, max_height=4096, max_fps=120, max_streams=8)
SPEED, LEFT, TOP = 45, 20, 60  # the photo moves right at 45 px/s from x=20 over a 640×360 frame
CROP_SHARE = (9 / 16) / (16 / 9)  # a 9:16 window of a 16:9 frame

pytestmark = pytest.mark.skipif(not PHOTO.is_file(), reason="needs Debian's opencv-doc (make system-test)")


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return default_fonts()


@pytest.fixture(scope="module")
def face(tmp_path_factory) -> Path:
    """The head and shoulders of the photo, enlarged 1.6× (the face ≈ 60 px tall, like a talking head)."""
    out = tmp_path_factory.mktemp("face") / "face.png"
    ffmpeg("-i", str(PHOTO), "-vf", "crop=140:160:170:40,scale=224:256:flags=bicubic", str(out))
    return out


@pytest.fixture(scope="module")
def moving(face, tmp_path_factory) -> Path:
    return _moving(face, tmp_path_factory.mktemp("moving") / "moving.mp4")


@kept
def _moving(face: Path, path: Path) -> Path:
    out = path
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=0x506070:size=640x360:rate=25", "-loop", "1", "-i", str(face)),
        *("-f", "lavfi", "-i", "sine=f=300"),
        "-filter_complex",
        f"[0:v][1:v]overlay=x='{LEFT}+t*{SPEED}':y={TOP}:shortest=1,format=yuv420p[v]",
        *("-map", "[v]", "-map", "2:a", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"),
        str(out),
    )
    return out


def face_box_in_photo(face: Path) -> tuple[int, int]:
    """Where the face is inside the moving picture (x, width), found once on the still."""
    import cv2

    boxes = framing.detect_faces(cv2.imread(str(face), cv2.IMREAD_GRAYSCALE))
    assert boxes, "the cascade finds the face on the still photo"
    x, _, w, _ = boxes[0]
    return x, w


def test_a_face_moving_across_the_frame_stays_inside_a_smooth_crop(moving, face):
    track = framing.track_clip(moving, start=0, end=8)
    assert (track.width, track.height) == (480, 270)  # one pipe of small frames, 4 a second
    assert len(track.samples) == 32 and track.kind() == "faces"
    assert sum(1 for s in track.samples if s.faces) >= 24

    path = framing.crop_path(track.samples, kind="faces", crop_share=CROP_SHARE)
    fx, fw = face_box_in_photo(face)
    half = CROP_SHARE * 640 / 2
    for step in range(0, 31):
        t = step / 4
        left = LEFT + SPEED * t + fx
        centre = framing.value_at(path, t) * 640
        assert centre - half <= left and left + fw <= centre + half, (t, left, centre)
    assert framing.value_at(path, 7.5) - framing.value_at(path, 0) > 0.3  # it really panned
    # Smooth: an even pan has no second difference; a camera shaking by 1 % of the width each sample would
    # score 0.04. The bound allows easing in and out.
    assert framing.jitter(path) < 0.004
    shaky = [(i / 4, 0.5 + (0.01 if i % 2 else -0.01)) for i in range(32)]
    assert framing.jitter(shaky) > 0.03


def test_detection_noise_inside_the_dead_zone_does_not_move_the_camera():
    noisy = [
        framing.Sample(
            t=i / 4, faces=(framing.Face(x=0.5 + 0.012 * (-1) ** i, y=0.4, size=0.2, mouth=0),), motion=0, motion_x=None
        )
        for i in range(40)
    ]
    path = framing.crop_path(noisy, kind="faces", crop_share=CROP_SHARE)
    assert {round(x, 6) for _, x in path} == {0.512}  # the first sighting, then still
    assert framing.jitter(path) == 0


def test_a_lost_face_is_held_and_the_speaking_face_is_followed():
    def sample(i: int, faces: tuple[framing.Face, ...]) -> framing.Sample:
        return framing.Sample(t=i / 4, faces=faces, motion=0, motion_x=None)

    quiet, talking = framing.Face(0.2, 0.4, 0.2, 0.0), framing.Face(0.8, 0.4, 0.2, 6.0)
    samples = [sample(i, (quiet,)) for i in range(4)]
    samples += [sample(i, ()) for i in range(4, 8)]  # lost for a second: held
    samples += [sample(i, (quiet, talking)) for i in range(8, 24)]
    targets = framing.subject_targets(samples, kind="faces", speech=[(0.0, 10.0)])
    assert [x for _, x in targets[:8]] == [0.2] * 8
    switched = next(t for t, x in targets if x == 0.8)
    assert 2.0 + framing.SWITCH_AFTER - 0.3 <= switched <= 2.0 + framing.SWITCH_AFTER + 0.8
    # No speech heard: mouth movement alone does not pull the camera away.
    silent = framing.subject_targets(samples, kind="faces", speech=[])
    assert all(x in (0.2, None) for _, x in silent)


def test_the_rendered_reel_keeps_the_face_in_frame(moving, fonts, tmp_path):
    import numpy as np

    info = probe(moving, limits=LIMITS)
    reel = render_reel(
        moving,
        info,
        start=0,
        end=8,
        out=tmp_path / "s.mp4",
        captions=[],
        mode="speaker",
        fonts=fonts,
        width=360,
        height=640,
    )
    assert reel.framing == "faces" and (reel.width, reel.height) == (360, 640)
    for at in (1.0, 4.0, 7.0):
        picture = pm.frame(reel.path, at, tmp_path / f"{at}.png").convert("L")
        small = picture.resize((180, 320))
        assert framing.detect_faces(np.asarray(small)), at


@pytest.fixture(scope="module")
def two_apart(face, tmp_path_factory) -> Path:
    """Two speakers side by side, far apart: the photo twice (the second mirrored, drifting right slowly)
    over a 640×360 frame at 29.97 fps, as an interview two-shot."""
    out = tmp_path_factory.mktemp("two") / "two.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=0x5a6050:size=640x360:rate=30000/1001", "-loop", "1", "-i", str(face)),
        *("-f", "lavfi", "-i", "sine=f=220:sample_rate=44100"),
        "-filter_complex",
        "[1:v]split=2[a][b];[b]hflip[bm];[0:v][a]overlay=x=16:y=60:shortest=1[one];"
        f"[one][bm]overlay=x='{TWO_RIGHT}+t*6':y=70:shortest=1,format=yuv420p[v]",
        *("-map", "[v]", "-map", "2:a", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"),
        str(out),
    )
    return out


TWO_RIGHT = 360  # the second speaker's left edge at t=0 (x = 360 + 6·t)


def test_two_speakers_far_apart_get_the_stacked_split_each_half_on_one_face(two_apart, face, fonts, tmp_path):
    import numpy as np

    track = framing.track_clip(two_apart, start=0, end=6)
    assert framing.wants_split(track.samples, crop_share=CROP_SHARE)
    half_share = (360 / 320) / (16 / 9)  # a 360×320 half of a 360×640 reel over a 16:9 source
    top, bottom = framing.split_paths(track.samples, crop_share=CROP_SHARE, half_share=half_share)
    fx, fw = face_box_in_photo(face)
    half = half_share * 640 / 2
    for step in range(0, 23):
        t = step / 4
        left_face = (16 + fx, 16 + fx + fw)
        right_face = (TWO_RIGHT + 6 * t + 224 - fx - fw, TWO_RIGHT + 6 * t + 224 - fx)  # mirrored
        for path, (a, b) in ((top, left_face), (bottom, right_face)):
            centre = framing.value_at(path, t) * 640
            assert centre - half <= a and b <= centre + half, (t, a, b, centre)
        assert framing.jitter(top) < 0.002 and framing.jitter(bottom) < 0.002

    info = probe(two_apart, limits=LIMITS)
    reel = render_reel(
        two_apart,
        info,
        start=0,
        end=6,
        out=tmp_path / "split.mp4",
        captions=[Caption(0.5, 3.0, "Two of us here")],
        mode="speaker",
        fonts=fonts,
        width=360,
        height=640,
        track=track,
    )
    assert reel.framing == "split" and (reel.width, reel.height) == (360, 640)
    for at in (1.0, 4.5):
        picture = np.asarray(pm.frame(reel.path, at, tmp_path / f"{at}.png").convert("L"))
        top_half, bottom_half = picture[:318], picture[322:]
        assert len(framing.detect_faces(top_half)) == 1, at
        assert len(framing.detect_faces(bottom_half)) == 1, at
        assert picture[319:321, :8].mean() < 40  # the dark rule between the halves (the caption is on it)


def test_one_speaker_or_a_square_reel_is_not_split(moving, two_apart, fonts, tmp_path):
    single = framing.track_clip(moving, start=0, end=8)
    assert not framing.wants_split(single.samples, crop_share=CROP_SHARE)
    info = probe(two_apart, limits=LIMITS)
    square = render_reel(
        two_apart,
        info,
        start=0,
        end=3,
        out=tmp_path / "square.mp4",
        captions=[],
        mode="speaker",
        fonts=fonts,
        width=360,
        height=360,
    )
    assert square.framing == "faces"  # 1:1 keeps one window on one face


def test_no_face_follows_motion_and_a_still_picture_gets_the_blurred_fill(fonts, tmp_path):
    box = tmp_path / "box.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=gray:size=640x360:rate=25", "-f", "lavfi", "-i", "color=c=white:size=60x60"),
        "-filter_complex",
        "[0:v][1:v]overlay=x='400+40*sin(t*6)':y=150:shortest=1,format=yuv420p",
        *("-t", "4", "-c:v", "libx264", "-preset", "ultrafast", str(box)),
    )
    track = framing.track_clip(box, start=0, end=4)
    assert track.kind() == "motion"
    path = framing.crop_path(track.samples, kind="motion", crop_share=CROP_SHARE)
    assert 0.55 < framing.value_at(path, 3.0) < 0.8  # framed on the moving box, right of centre

    still = pm.edge_bars(tmp_path / "still.mp4", size="640x360", seconds=2)
    info = probe(still, limits=LIMITS)
    reel = render_reel(
        still,
        info,
        start=0,
        end=2,
        out=tmp_path / "r.mp4",
        captions=[],
        mode="speaker",
        fonts=fonts,
        width=360,
        height=640,
    )
    assert reel.framing == "blur"
    picture = pm.frame(reel.path, 1.0, tmp_path / "r.png")
    # Fitted whole: both edge bars are in the picture.
    assert any(pm.is_colour(picture.getpixel((x, 320)), pm.RED) for x in range(0, 30))
    assert any(pm.is_colour(picture.getpixel((x, 320)), pm.BLUE) for x in range(330, 360))


# ---------------------------------------------------------------------------------------------- captions


def test_escaping_leaves_nothing_libass_would_read_as_markup():
    assert escape("{\\b1}a") == "\\{\\\u2060b1\\}a"
    assert escape("\\N\\h") == "\\\u2060N\\\u2060h"


@pytest.mark.skipif(not libass_available(), reason="ffmpeg without libass")
@pytest.mark.parametrize("preset", ["clean", "pop", "karaoke"])
def test_animated_captions_draw_text_literally_in_the_safe_zone(fonts, tmp_path, preset):
    src = pm.edge_bars(tmp_path / "flat.mp4", size="360x640", seconds=4, bar=2)
    info = probe(src, limits=LIMITS)
    words = ((0.0, 0.5, "ab"), (0.5, 1.0, "cd"))
    captions = [Caption(0.0, 1.0, "ab cd", words), Caption(1.0, 2.0, "{\\b1}ab cd"), Caption(2.0, 3.0, "\\N")]
    reel = render_reel(
        src,
        info,
        start=0,
        end=4,
        out=tmp_path / "a.mp4",
        captions=captions,
        fonts=fonts,
        width=360,
        height=640,
        caption_preset=preset,
        hook="A hook title",
    )
    assert reel.captions == f"ass:{preset}"
    lower = (0, 320, 360, 640)
    plain = pm.white_ink(pm.frame(reel.path, 0.75, tmp_path / "1.png"), lower)
    tagged = pm.white_ink(pm.frame(reel.path, 1.5, tmp_path / "2.png"), lower)
    assert plain and tagged
    assert tagged[2] - tagged[0] > 1.5 * (plain[2] - plain[0])  # "{\b1}" drawn, not obeyed
    # "\N" drawn, not a line break (white, or yellow while it is said)
    said = pm.frame(reel.path, 2.5, tmp_path / "3.png").crop(lower)
    assert sum(1 for p in said.get_flattened_data() if p[0] > 200 and p[1] > 180) > 50
    for box in (plain, tagged):
        assert box[0] >= 0.05 * 360 and box[2] <= 0.95 * 360 and box[3] <= 0.78 * 640  # inside the safe zone
    # The hook title stands over the first seconds, below the app's tabs, and is gone after.
    top = (0, 0, 360, 200)
    early = Image.open(tmp_path / "1.png").convert("RGB").crop(top)
    late = pm.frame(reel.path, 3.5, tmp_path / "4.png").crop(top)
    assert pm.white_ink(early) and pm.white_ink(early)[1] >= 0.12 * 640 - 12
    assert pm.white_ink(late) is None
    if preset == "pop":  # the word being said is highlighted
        first = pm.frame(reel.path, 0.25, tmp_path / "5.png").crop(lower)
        assert any(p[0] > 200 and p[1] > 180 and p[2] < 90 for p in first.get_flattened_data())


# ---------------------------------------------------------------------------------------------- cuts


def flat(keep: tuple[tuple[float, float], ...]) -> list[float]:
    return [t for pair in keep for t in pair]


def test_plan_cuts_cuts_long_silences_and_fillers_only():
    levels = [-20.0] * 20 + [-70.0] * 15 + [-20.0] * 5 + [-70.0] * 4 + [-20.0] * 16  # 6 s in 100 ms windows
    cuts = plan_cuts(start=10.0, end=16.0, levels=levels)
    assert flat(cuts.keep) == pytest.approx([10.0, 12.12, 13.38, 16.0], abs=1e-6)  # the 0.4 s pause stays
    assert cuts.to_output(12.0) == pytest.approx(2.0) and cuts.to_output(14.0) == pytest.approx(2.74)
    words = [(10.2, 10.5, "so"), (10.6, 10.9, "um,"), (11.0, 11.4, "yes")]
    with_fillers = plan_cuts(start=10.0, end=16.0, levels=[-20.0] * 60, words=words, fillers=True)
    assert flat(with_fillers.keep) == pytest.approx([10.0, 10.6, 10.9, 16.0])
    assert plan_cuts(start=10.0, end=16.0, levels=[-20.0] * 60, words=words).keep == ((10.0, 16.0),)
    assert plan_cuts(start=0.0, end=3.0, levels=[-90.0] * 30).keep == ((0.0, 3.0),)  # never cut it all


def test_a_reel_with_jump_cuts_is_shorter_and_its_captions_follow(fonts, tmp_path):
    from media_pipeline.analysis.signal import audio_levels

    src = tmp_path / "gap.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=25", "-f", "lavfi", "-i", "sine=f=440"),
        *("-af", "volume='if(between(t,2,4),0,1)':eval=frame", "-t", "6"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(src)),
    )
    info = probe(src, limits=LIMITS)
    cuts = plan_cuts(start=0.0, end=6.0, levels=list(audio_levels(src, start=0.0, end=6.0)))
    assert len(cuts.keep) == 2 and 1.6 < cuts.removed < 1.9
    captions = [Caption(4.2, 5.5, "after the gap")]
    reel = render_reel(
        src,
        info,
        start=0,
        end=6,
        out=tmp_path / "c.mp4",
        captions=captions,
        fonts=fonts,
        width=240,
        height=426,
        cuts=cuts,
    )
    assert reel.duration == pytest.approx(cuts.duration, abs=0.1)
    # The caption said at 4.2 s of the source is on screen ~1.8 s earlier in the reel.
    shown = cuts.to_output(4.6)
    lower = (0, 213, 240, 426)
    assert pm.white_ink(pm.frame(reel.path, shown, tmp_path / "in.png"), lower)
    assert pm.white_ink(pm.frame(reel.path, 1.0, tmp_path / "before.png"), lower) is None


# ---------------------------------------------------------------------------------------------- layouts


def _sample(t: float, *xs_sizes: tuple[float, float]) -> framing.Sample:
    faces = tuple(framing.Face(x=x, y=0.4, size=size, mouth=0.0) for x, size in xs_sizes)
    return framing.Sample(t=t, faces=faces, motion=0.0, motion_x=None)


def test_layout_segments_split_only_while_both_are_there_and_never_flicker():
    one, two = ((0.2, 0.3),), ((0.2, 0.3), (0.8, 0.3))
    samples = [_sample(i / 4, *(one if i < 16 else two)) for i in range(32)]
    assert framing.layout_segments(samples, crop_share=CROP_SHARE) == [(0.0, 4.0, False), (4.0, 8.0, True)]
    # The second face missed for a second by the detector: still split.
    lost = [_sample(i / 4, *(one if 20 <= i < 24 else two)) for i in range(32)]
    assert framing.layout_segments(lost, crop_share=CROP_SHARE, duration=8.0) == [(0.0, 8.0, True)]
    # Two apart for 1.5 s inside 8 s of one face: too short to switch to and back from.
    blip = [_sample(i / 4, *(two if 12 <= i < 18 else one)) for i in range(32)]
    assert framing.layout_segments(blip, crop_share=CROP_SHARE) == [(0.0, 8.0, False)]
    # Every stretch is held at least MIN_LAYOUT seconds.
    pattern = [_sample(i / 4, *(two if (i // 9) % 2 else one)) for i in range(64)]
    spans = framing.layout_segments(pattern, crop_share=CROP_SHARE)
    assert all(b - a >= framing.MIN_LAYOUT for a, b, _ in spans) and spans[0][0] == 0 and spans[-1][1] == 16.0


def test_with_more_than_two_faces_the_halves_follow_the_outermost_of_the_three_largest():
    # Two speakers at the sides, a larger face between them (the host), a small one far right (the crowd).
    crowd = [_sample(i / 4, (0.5, 0.25), (0.15, 0.2), (0.85, 0.18), (0.97, 0.06)) for i in range(24)]
    half_share = (360 / 320) / (16 / 9)
    assert framing.wants_split(crowd, crop_share=CROP_SHARE)
    top, bottom = framing.split_paths(crowd, crop_share=CROP_SHARE, half_share=half_share)
    low, high = half_share / 2, 1 - half_share / 2
    assert framing.value_at(top, 5.0) == pytest.approx(max(0.15, low), abs=0.01)
    assert framing.value_at(bottom, 5.0) == pytest.approx(min(0.85, high), abs=0.01)
    # The single window is not dragged to the crowd's middle either: it stays on one face.
    single = framing.crop_path(crowd, kind="faces", crop_share=CROP_SHARE)
    assert any(abs(framing.value_at(single, 5.0) - x) < 0.02 for x in (0.5, 0.15, 0.85))


@pytest.fixture(scope="module")
def second_arrives(face, tmp_path_factory) -> Path:
    """One speaker on the left for 4 s, then a second one (mirrored) joins on the right for 4 s."""
    out = tmp_path_factory.mktemp("arrives") / "arrives.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=0x5a6050:size=640x360:rate=25", "-loop", "1", "-i", str(face)),
        *("-f", "lavfi", "-i", "sine=f=220"),
        "-filter_complex",
        "[1:v]split=2[a][b];[b]hflip[bm];[0:v][a]overlay=x=16:y=60:shortest=1[one];"
        "[one][bm]overlay=x=390:y=70:enable='gte(t,4)':shortest=1,format=yuv420p[v]",
        *("-map", "[v]", "-map", "2:a", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"),
        str(out),
    )
    return out


def _faces_in(picture, top: int = 0) -> list[tuple[int, int, int, int]]:
    return [(x, y + top, x + w, y + top + h) for x, y, w, h in framing.detect_faces(picture)]


def test_a_second_speaker_arriving_switches_from_one_window_to_the_split(second_arrives, fonts, tmp_path):
    import numpy as np

    track = framing.track_clip(second_arrives, start=0, end=8)
    segments = framing.layout_segments(track.samples, crop_share=CROP_SHARE, duration=8.0)
    assert [split for _, _, split in segments] == [False, True]
    assert 3.5 <= segments[1][0] <= 4.6, segments
    info = probe(second_arrives, limits=LIMITS)
    reel = render_reel(
        second_arrives,
        info,
        start=0,
        end=8,
        out=tmp_path / "arrives.mp4",
        captions=[Caption(0.5, 3.0, "Just me"), Caption(5.0, 7.5, "Now two")],
        mode="speaker",
        fonts=fonts,
        width=360,
        height=640,
        track=track,
    )
    assert reel.framing == "faces+split" and reel.duration == pytest.approx(8.0, abs=0.1)
    for at in (1.0, 3.0):  # one window, on the one face
        picture = np.asarray(pm.frame(reel.path, at, tmp_path / f"{at}.png").convert("L"))
        found = _faces_in(picture)
        assert len(found) == 1, at
        x0, y0, x1, y1 = found[0]
        assert x0 > 0 and x1 < 360 and y0 > 0 and y1 < 640, (at, found)
    for at in (5.5, 7.5):  # stacked: one face in each half, each whole inside its half
        picture = np.asarray(pm.frame(reel.path, at, tmp_path / f"{at}.png").convert("L"))
        top, bottom = _faces_in(picture[:318]), _faces_in(picture[322:], 322)
        assert len(top) == 1 and len(bottom) == 1, at
        assert top[0][3] < 320 and bottom[0][1] > 320 and 0 < top[0][0] and bottom[0][2] < 360, (at, top, bottom)
        assert picture[319:321, :8].mean() < 40  # the rule between the halves


def _hook_box(with_hook: Path, without: Path, at: float, tmp_path: Path) -> tuple[int, int, int, int]:
    """Where the hook title is drawn: the pixels that differ between the reel with and without it."""
    import numpy as np

    a = np.asarray(pm.frame(with_hook, at, tmp_path / "hook-a.png").convert("L"), dtype=np.int16)
    b = np.asarray(pm.frame(without, at, tmp_path / "hook-b.png").convert("L"), dtype=np.int16)
    ys, xs = np.nonzero(np.abs(a - b) > 60)
    assert len(xs) > 200, "the hook is drawn"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _touches(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


@pytest.mark.skipif(not libass_available(), reason="ffmpeg without libass")
@pytest.mark.parametrize("case", ["split", "single"])
def test_the_hook_title_covers_no_face_and_no_caption(case, two_apart, moving, fonts, tmp_path):
    import numpy as np

    src, caption = (two_apart, "Two of us here") if case == "split" else (moving, "Watch this one")
    info = probe(src, limits=LIMITS)
    track = framing.track_clip(src, start=0, end=4)
    made = {}
    for name, hook in (("with", "The one habit that changed how we work"), ("without", "")):
        made[name] = render_reel(
            src,
            info,
            start=0,
            end=4,
            out=tmp_path / f"{name}.mp4",
            captions=[Caption(0.0, 3.0, caption)],
            mode="speaker",
            fonts=fonts,
            width=360,
            height=640,
            caption_preset="clean",
            hook=hook,
            track=track,
        )
    assert made["with"].framing == ("split" if case == "split" else "faces")
    for at in (0.6, 1.4):
        hook = _hook_box(made["with"].path, made["without"].path, at, tmp_path)
        plain = pm.frame(made["without"].path, at, tmp_path / "plain.png")
        gray = np.asarray(plain.convert("L"))
        faces = _faces_in(gray[:318]) + _faces_in(gray[322:], 322) if case == "split" else _faces_in(gray)
        assert faces, at
        for box in faces:
            assert not _touches(hook, box), (at, hook, box)
        seam = 320 if case == "split" else round(0.7 * 640)  # where the caption stands
        ink = pm.white_ink(plain, (0, seam - 40, 360, seam + 40))
        assert ink and not _touches(hook, ink), (at, hook, ink)
        assert hook[1] >= 0.12 * 640 - 2 and hook[3] <= 0.78 * 640 + 2  # inside the safe zone
        if case == "split":  # on the seam between the halves, beside the caption there
            assert hook[1] - 40 <= 320 <= hook[3] + 40 or abs((hook[1] + hook[3]) / 2 - 320) < 90, hook
