"""Frames for thumbnails: grabbed in one ffmpeg run per batch, scored by sharpness, kept away from cuts.

The face detection the reels use (media_pipeline/render/framing.py, another branch) is not here yet; `pick`
takes a `prefer` scorer so "a face when there is one" is one argument when it lands.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..files import temp_folder
from ..process import CancelToken, ffmpeg_head, run
from .chapters import Chapter

FRAME_HEIGHT = 720  # the thumbnails are 1280×720: grab no more than that
TRANSITION_S = 1.0  # a frame this close to a scene change may be half of each shot (a dissolve, a blur)
MAX_CANDIDATES = 24  # frames looked at per task
MIN_CONTRAST = 12.0  # standard deviation of grey levels below which a frame is a flat fade or a black screen


@dataclass(frozen=True)
class FrameScore:
    t: float
    path: Path
    sharpness: float  # variance of the Laplacian of the grey picture (higher: more edges in focus)
    contrast: float  # standard deviation of the grey levels
    preference: float = 0.0  # e.g. a face's size; 0 without a `prefer` scorer

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
            argv += ["-skip_frame", "nokey", "-noaccurate_seek", "-ss", f"{t:.3f}", "-i", str(src)]
        with temp_folder(out_dir, "grab") as work:
            for i, _ in enumerate(missing):
                argv += ["-map", f"{i}:v:0", "-frames:v", "1", "-vf", f"scale=-2:'min({FRAME_HEIGHT},ih)'"]
                argv += ["-q:v", "2", "-f", "image2", str(work / f"{i}.jpg")]
            run(argv, timeout=timeout, cancel=cancel, what="ffmpeg")
            for i, t in enumerate(missing):
                grabbed = work / f"{i}.jpg"
                if grabbed.is_file():  # a time past the last frame gives no picture: it stays missing
                    os.replace(grabbed, wanted[t])
    return {t: p for t, p in wanted.items() if p.is_file()}


def score_frame(path: Path, t: float, prefer: Callable[[Path], float] | None = None) -> FrameScore:
    """Sharpness and contrast of a frame, measured on a 320-px-wide grey copy (fast and enough to rank)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        grey = im.convert("L")
        grey.thumbnail((320, 320))
        a = np.asarray(grey, dtype=np.float32)
    lap = -4 * a[1:-1, 1:-1] + a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:]
    return FrameScore(
        t=t,
        path=path,
        sharpness=float(lap.var()),
        contrast=float(a.std()),
        preference=prefer(path) if prefer else 0.0,
    )


def near_cut(t: float, cuts: list[float]) -> bool:
    return any(abs(t - c) < TRANSITION_S for c in cuts)


def rank(scores: list[FrameScore], *, cuts: list[float]) -> list[FrameScore]:
    """Usable frames away from cuts, best first: preferred ones (a face) first, then the sharpest."""
    good = [s for s in scores if s.usable and not near_cut(s.t, cuts)]
    return sorted(good, key=lambda s: (-s.preference, -s.sharpness, s.t))


def candidate_times(chapters: list[Chapter], analyses: list[dict], duration: float) -> list[float]:
    """Times worth a look, chapter by chapter (a quarter, half and three quarters in) and the middle of the
    three most interesting intervals; rounded to 0.1 s so a regenerate asks for frames already grabbed."""
    times: list[float] = []
    for c in chapters:
        times += [c.start + (c.end - c.start) * f for f in (0.25, 0.5, 0.75)]
    best = sorted((a for a in analyses if isinstance(a.get("score"), int | float)), key=lambda a: -a["score"])[:3]
    times += [(float(a["start"]) + float(a["end"])) / 2 for a in best]
    out = sorted({round(min(max(t, 0.5), max(duration - 0.5, 0.0)), 1) for t in times})
    if len(out) > MAX_CANDIDATES:  # many chapters: an even subset, so one ffmpeg run stays short
        step = len(out) / MAX_CANDIDATES
        out = [out[int(i * step)] for i in range(MAX_CANDIDATES)]
    return out


def scene_cuts(analyses: list[dict]) -> list[float]:
    """The scene changes the interval analysis found (none when the task was not analysed)."""
    return [float(e["t"]) for a in analyses for e in a.get("events", []) if e.get("kind") == "scene_change"]


def spread(ranked: list[FrameScore], chapters: list[Chapter]) -> list[float]:
    """Frame times in the order to use them: the best of each chapter first, then the next best of each, so
    the candidates show different parts of the video."""
    by_chapter: dict[int, list[float]] = {}
    for score in ranked:
        index = max((i for i, c in enumerate(chapters) if c.start <= score.t), default=0)
        by_chapter.setdefault(index, []).append(score.t)
    order: list[float] = []
    while any(by_chapter.values()):
        for index in sorted(by_chapter):
            if by_chapter[index]:
                order.append(by_chapter[index].pop(0))
    return order
