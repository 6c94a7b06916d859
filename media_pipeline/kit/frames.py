"""Frames for thumbnails: a sheet of frames grabbed in one ffmpeg run as soon as the video is there (while the
transcript is still being made), scored by sharpness, faces and contrast, kept away from cuts; once the chapters
are known they only choose among frames already on disk.

Faces are found with the Haar cascade the reels use (media_pipeline/render/framing.py), on the same small grey
copy the sharpness is measured on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import temp_folder
from ..process import CancelToken, ffmpeg_head, run
from .chapters import Chapter

if TYPE_CHECKING:
    import numpy as np

FRAME_HEIGHT = 720  # the thumbnails are 1280×720: grab no more than that of a wide video…
FRAME_WIDTH = 1080  # …and no more than the 9:16 cover's width of a tall one (cropped, not blown up)
# Keeps the shape; a video smaller than that is not enlarged.
FRAME_SCALE = f"scale='if(gte(iw,ih),-2,min({FRAME_WIDTH},iw))':'if(gte(iw,ih),min({FRAME_HEIGHT},ih),-2)'"
TRANSITION_S = 1.0  # a frame this close to a scene change may be half of each shot (a dissolve, a blur)
SHEET_FRAMES = 32  # frames looked at per task: ≈ 40 ms of ffmpeg each (one more input to open), measured
SHEET_STEP = 2.0  # seconds: no closer than the usual keyframe interval (two would give the same picture)
CENTRE = (0.5, 0.45)  # a crop's centre without a face: a little above the middle, where heads usually are
SCORE_WIDTH = 480  # the grey copy frames are scored on (framing.SAMPLE_WIDTH: the size the face cascade suits)
MIN_CONTRAST = 12.0  # standard deviation of grey levels below which a frame is a flat fade or a black screen


@dataclass(frozen=True)
class FrameScore:
    t: float
    path: Path
    sharpness: float  # variance of the Laplacian of the grey picture (higher: more edges in focus)
    contrast: float  # standard deviation of the grey levels
    face: float = 0.0  # the largest face's height as a share of the frame's (0: no face)
    focus: tuple[float, float] = CENTRE  # where to keep a crop centred: the largest face's centre, if any

    @property
    def usable(self) -> bool:
        return self.contrast >= MIN_CONTRAST


def frame_name(t: float) -> str:
    return f"{int(round(t * 1000)):09d}.jpg"


def grab_frames(
    src: Path,
    times: list[float],
    *,
    out_dir: Path,
    ffmpeg_bin: str = "ffmpeg",
    cancel: CancelToken | None = None,
    timeout: float = 300,
    nice: int = 0,
) -> dict[float, Path]:
    """One JPEG per time in `out_dir` (named by the time), all from one ffmpeg run: each time is its own
    input with a fast keyframe seek, mapped to its own one-frame output. Times already grabbed are
    not grabbed again (the folder is the cache)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {t: out_dir / frame_name(t) for t in sorted(set(times))}
    missing = [t for t, p in wanted.items() if not p.is_file()]
    if missing:
        argv = ffmpeg_head(ffmpeg_bin)
        for t in missing:
            # The keyframe at or before t: one picture decoded per input instead of up to a GOP of them (the
            # sharpest kind of frame too: keyframes are coded at the best quality).
            # -skip_frame nokey: the decoder never touches the frames between keyframes that ffmpeg reads ahead
            # while the other inputs catch up (half the time of a 24-frame batch, measured).
            # -threads 1: one decoder thread per input; 24 inputs each starting a pool of threads for one
            # picture cost a quarter more CPU (measured).
            argv += ["-threads", "1", "-skip_frame", "nokey", "-noaccurate_seek", "-ss", f"{t:.3f}", "-i", str(src)]
        with temp_folder(out_dir, "grab") as work:
            for i, _ in enumerate(missing):
                argv += ["-map", f"{i}:v:0", "-frames:v", "1", "-vf", FRAME_SCALE]
                argv += ["-q:v", "2", "-f", "image2", str(work / f"{i}.jpg")]
            run(argv, timeout=timeout, cancel=cancel, what="ffmpeg", nice=nice)
            for i, t in enumerate(missing):
                grabbed = work / f"{i}.jpg"
                if grabbed.is_file():  # a time past the last frame gives no picture: it stays missing
                    os.replace(grabbed, wanted[t])
    return {t: p for t, p in wanted.items() if p.is_file()}


def score_frame(path: Path, t: float, *, faces: bool = True) -> FrameScore:
    """Sharpness, contrast and the largest face of a frame, measured on a small grey copy decoded at a
    reduced scale (JPEG's DCT scaling: a quarter of the pixels decoded, a fraction of the time)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im.draft("L", (SCORE_WIDTH, SCORE_WIDTH))
        grey = im.convert("L")
    if grey.width > SCORE_WIDTH:
        grey = grey.resize((SCORE_WIDTH, max(1, round(grey.height * SCORE_WIDTH / grey.width))))
    a = np.asarray(grey, dtype=np.float32)
    lap = -4 * a[1:-1, 1:-1] + a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:]
    face, focus = largest_face(np.asarray(grey)) if faces else (0.0, CENTRE)
    return FrameScore(t=t, path=path, sharpness=float(lap.var()), contrast=float(a.std()), face=face, focus=focus)


def largest_face(grey: np.ndarray) -> tuple[float, tuple[float, float]]:
    """(height, centre) of the largest face in a grey frame, as shares of the frame's size; (0, CENTRE)
    without one, or when this server has no OpenCV face model (a thumbnail is still made, from the sharpest
    frame)."""
    from ..errors import MediaError
    from ..render.framing import detect_faces

    try:
        boxes = detect_faces(grey)
    except (MediaError, ImportError):
        return 0.0, CENTRE
    if not boxes:
        return 0.0, CENTRE
    x, y, w, h = boxes[0]
    height, width = grey.shape[:2]
    return h / height, (round((x + w / 2) / width, 3), round((y + h / 2) / height, 3))


def near_cut(t: float, cuts: list[float]) -> bool:
    return any(abs(t - c) < TRANSITION_S for c in cuts)


def rank(scores: list[FrameScore], *, cuts: list[float]) -> list[FrameScore]:
    """Usable frames away from cuts, best first: frames with a face first (a face is what makes people click),
    each group sharpest first."""
    good = [s for s in scores if s.usable and not near_cut(s.t, cuts)]
    return sorted(good, key=lambda s: (s.face == 0, -s.sharpness, s.t))


def sheet_times(duration: float) -> list[float]:
    """Times worth a look before anything else is known: evenly over the video, each in the middle of its
    stretch, at most SHEET_FRAMES and no closer than SHEET_STEP; rounded to 0.1 s so a regenerate asks for
    frames already grabbed."""
    if duration <= 0:
        return []
    step = max(duration / SHEET_FRAMES, SHEET_STEP)
    count = max(1, int(duration / step))
    step = duration / count
    return sorted({round(min(max((i + 0.5) * step, 0.0), max(duration - 0.5, 0.0)), 1) for i in range(count)})


def scene_cuts(analyses: list[dict]) -> list[float]:
    """The scene changes the interval analysis found (none when the task was not analysed)."""
    return [float(e["t"]) for a in analyses for e in a.get("events", []) if e.get("kind") == "scene_change"]


def spread(ranked: list[FrameScore], chapters: list[Chapter]) -> list[float]:
    """Frame times in the order to use them: the best of each chapter first, then the next best of each, so
    the candidates show different parts of the video. Within a round the chapters go in the order of their best
    frames, so the first time is the best frame of all (the one the covers use)."""
    by_chapter: dict[int, list[float]] = {}  # in the order each chapter's best frame is ranked
    for score in ranked:
        index = max((i for i, c in enumerate(chapters) if c.start <= score.t), default=0)
        by_chapter.setdefault(index, []).append(score.t)
    order: list[float] = []
    while any(by_chapter.values()):
        for index in by_chapter:
            if by_chapter[index]:
                order.append(by_chapter[index].pop(0))
    return order
