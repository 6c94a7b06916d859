"""Choosing thumbnail frames: a real face photo (Debian's opencv-doc sample messi5.jpg) shown for a few seconds
of a generated video whose other frames are a sharper test pattern; the frame sheet finds it, ranks it first,
and the thumbnail made from it shows the face. Real ffmpeg, Pillow and OpenCV throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from media_pipeline.kit.chapters import Chapter
from media_pipeline.kit.frames import (
    CENTRE,
    FrameScore,
    grab_frames,
    rank,
    score_frame,
    sheet_times,
    spread,
)
from media_pipeline.kit.thumbnails import ImageSpec, render
from media_pipeline.render import framing
from media_pipeline.render.fonts import default_fonts

from .media import ffmpeg, kept

PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
FACE_FROM, FACE_TO, SECONDS = 20.0, 28.0, 40.0  # the photo is on screen between these times

needs_photo = pytest.mark.skipif(not PHOTO.is_file(), reason="needs Debian's opencv-doc (make system-test)")


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    """640×360, a keyframe every second: the test pattern, and from 20 s to 28 s the head and shoulders of
    the photo (enlarged, the face ≈ 70 px tall) on a grey-blue wall, off centre to the right."""
    return _face_video(PHOTO, tmp_path_factory.mktemp("faces") / "face.mp4")


@kept
def _face_video(photo: Path, path: Path) -> Path:
    face = path.with_name("face.png")
    ffmpeg("-i", str(photo), "-vf", "crop=140:160:170:40,scale=245:280:flags=bicubic", str(face))
    out = path
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"color=c=0x506070:size=640x360:rate=25:duration={SECONDS}"),
        *("-loop", "1", "-i", str(face)),
        "-filter_complex",
        "[1:v][2:v]overlay=x=360:y=20:shortest=1[wall];"
        f"[0:v][wall]overlay=enable='between(t,{FACE_FROM},{FACE_TO})',format=yuv420p[v]",
        *("-map", "[v]", "-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"),
        str(out),
    )
    return out


def faces_in(path: Path) -> list[tuple[int, int, int, int]]:
    """Faces in an image, looked for at the size the kit scores frames at."""
    with Image.open(path) as im:
        grey = im.convert("L")
    grey = grey.resize((480, round(grey.height * 480 / grey.width)))
    import numpy as np

    return framing.detect_faces(np.asarray(grey))


@needs_photo
def test_the_chosen_thumbnail_frame_has_the_face_and_the_thumbnail_shows_it(face_video, tmp_path):
    times = sheet_times(SECONDS)
    grabbed = grab_frames(face_video, times, out_dir=tmp_path / "frames")
    assert sorted(grabbed) == times  # one ffmpeg run, every frame of the sheet
    scores = [score_frame(p, t) for t, p in grabbed.items()]
    with_face = [s for s in scores if s.face]
    assert with_face and all(FACE_FROM <= s.t <= FACE_TO for s in with_face)
    # The test pattern is sharper than the photo: without the face rule the pattern would be chosen.
    assert max(s.sharpness for s in scores if not s.face) > max(s.sharpness for s in with_face)

    ranked = rank(scores, cuts=[FACE_FROM, FACE_TO])
    best = ranked[0]
    assert best.face and FACE_FROM + 1 <= best.t <= FACE_TO - 1  # a face, and not at the cut either side
    assert best.focus[0] > 0.6  # the face is right of centre, and the crops follow it

    chapters = [Chapter(start=0.0, end=SECONDS / 2, title="Intro"), Chapter(start=SECONDS / 2, end=SECONDS, title="B")]
    order = spread(ranked, chapters)
    # The face is in the second chapter, yet it leads: the chapters take turns, the best frame's first.
    assert order[0] == best.t and order[1] < SECONDS / 2
    fonts = default_fonts()
    for kind, layout in (("thumb", "band"), ("thumb", "panel"), ("vertical", "band"), ("square", "band")):
        spec = ImageSpec(best.path, best.t, "faces", "Tomato Plants", layout, kind, focus=best.focus)
        out = tmp_path / f"{kind}-{layout}.jpg"
        out.write_bytes(render(spec, fonts))
        with Image.open(out) as im:
            assert im.size == spec.size
        assert faces_in(out), f"the {kind} {layout} image shows the face"


def test_rank_puts_faces_first_then_the_sharpest_and_skips_flat_frames_and_cuts(tmp_path):
    p = tmp_path / "x.jpg"
    scores = [
        FrameScore(t=1.0, path=p, sharpness=900.0, contrast=50.0),
        FrameScore(t=2.0, path=p, sharpness=300.0, contrast=50.0, face=0.2, focus=(0.7, 0.3)),
        FrameScore(t=3.0, path=p, sharpness=500.0, contrast=50.0, face=0.1),
        FrameScore(t=4.0, path=p, sharpness=2000.0, contrast=3.0),  # a fade to black: never
        FrameScore(t=10.2, path=p, sharpness=5000.0, contrast=60.0, face=0.3),  # on a cut: never
    ]
    assert [s.t for s in rank(scores, cuts=[10.0])] == [3.0, 2.0, 1.0]
    assert [s.t for s in rank([scores[0], scores[3]], cuts=[])] == [1.0]


def test_the_sheet_spreads_over_the_video_and_no_closer_than_keyframes():
    assert sheet_times(0) == []
    assert sheet_times(10) == [1.0, 3.0, 5.0, 7.0, 9.0]
    long = sheet_times(600)
    assert len(long) == 32 and long[0] < 20 and long[-1] > 580
    assert min(b - a for a, b in zip(long, long[1:], strict=False)) >= 18


def test_a_frame_without_a_face_is_centred(tmp_path):
    frame = tmp_path / "pattern.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720", "-frames:v", "1", str(frame))
    score = score_frame(frame, 0.0)
    assert score.face == 0 and score.focus == CENTRE and score.sharpness > 0 and score.usable
