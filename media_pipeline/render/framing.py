"""Speaker-aware framing: where a reel's crop window looks, second by second.

1. `sample_frames` decodes the reel's range once, through one ffmpeg pipe, as small gray PGM frames a few
   times per second (no per-frame seeks; the frames arrive already scaled, autorotated and decimated).
2. `track` finds faces on each small frame with OpenCV's Haar cascade (shipped inside opencv-python-headless
   4.x as `cv2.data`; nothing is downloaded), measures how much each face's mouth region moves, and how much
   the picture moves column by column (for footage without faces).
3. `crop_path` turns the samples into a smooth path of the crop window's centre: a dead zone (small moves
   of the subject do not move the camera), a maximum pan speed, a hold when the face is lost for a moment,
   the speaking face followed when there are several (its mouth moves while speech is heard), switching only
   when another face has clearly spoken for a while.
4. `path_expression` writes the path as one ffmpeg expression of `t` (piecewise linear), which the `crop`
   filter of the reel's single render pass evaluates frame by frame.
5. `split_paths`: two faces too far apart for one tall window (two speakers side by side) get the stacked
   split layout instead: the reel's top half follows the left face, its bottom half the right one, each with
   the same camera (dead zone, easing, maximum speed, hold). With more than two faces the two are the
   outermost of the three largest. `layout_segments` says which stretches of the reel are split (both faces
   there) and which use one window, each held at least MIN_LAYOUT s.

OpenCV is imported lazily: only reels with speaker framing need it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import MediaError
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST
from ..process import CancelToken, ProcessFailed, ffmpeg_head, run

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

RATE = 4.0  # samples per second: enough to follow a person walking, cheap enough (≈ 2 s per source minute)
SAMPLE_WIDTH = 480  # the small frames' width (smaller sources are not enlarged); a face a tenth of a
# 16:9 frame's height is 27 px here, which the cascade still finds
CASCADE = "haarcascade_frontalface_default.xml"
MIN_FACE = 0.06  # smallest face searched for, as a share of the small frame's height
# The camera: it moves only when the subject leaves the dead zone (a share of the crop's width either side
# of its centre), then eases towards it (FOLLOW of the distance per sample: no sudden start or stop) until
# it is centred again, never faster than MAX_SPEED crop widths per second.
DEAD_ZONE = 0.12
SETTLE = 0.03
FOLLOW = 0.4
MAX_SPEED = 0.9
HOLD = 1.5  # seconds a lost face is held before the camera looks elsewhere
SWITCH_AFTER = 1.0  # seconds another face must be the clear speaker before the camera moves to it
SWITCH_RATIO = 1.6
FACE_SHARE = 0.25  # a clip is framed on faces when this share of its samples has one
MOTION_SHARE = 0.5  # … else on motion when this share of its samples moves noticeably
MOTION_LEVEL = 0.004  # share of pixels changed (by more than MOTION_DIFF of 255) in a moving sample
MOTION_DIFF = 12
# The stacked split layout: two faces whose centres are further apart than SPLIT_APART crop widths (they do
# not fit in one window) in at least SPLIT_SHARE of the samples with faces, and faces in FACE_SHARE of all.
SPLIT_APART = 0.9
SPLIT_SHARE = 0.6
SPLIT_MIN_TALL = 1.5  # only reels at least this much taller than wide (9:16): a half is then about square
MIN_LAYOUT = 2.5  # seconds a layout (split or one window) is held at least, so the picture does not flicker


@dataclass(frozen=True)
class Face:
    x: float  # centre, as a share of the frame's width and height
    y: float
    size: float  # height, as a share of the frame's height
    mouth: float  # mouth-region motion since the previous sample, minus the upper face's (head movement)


@dataclass(frozen=True)
class Sample:
    t: float  # seconds from the clip's start
    faces: tuple[Face, ...]
    motion: float  # share of the pixels that changed since the previous sample
    motion_x: float | None  # centre of the motion (share of the width), None when too little moved
    sharpness: float = 0.0  # variance of the Laplacian (for choosing a poster frame)
    brightness: float = 0.0


@dataclass
class Track:
    """What the tracker saw in a clip: the samples, and the small frames' size (the source's display aspect)."""

    samples: list[Sample]
    width: int
    height: int
    seconds: float = 0.0  # wall time of decoding + detection
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    def kind(self) -> str | None:
        """How the clip should be framed: "faces", "motion", or None (nothing to follow: fit it whole)."""
        if not self.samples:
            return None
        if sum(1 for s in self.samples if s.faces) >= FACE_SHARE * len(self.samples):
            return "faces"
        if sum(1 for s in self.samples if s.motion_x is not None) >= MOTION_SHARE * len(self.samples):
            return "motion"
        return None


# ---------------------------------------------------------------------------------------------- decoding


_PGM_HEADER = re.compile(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s")


def parse_pgm_stream(data: bytes) -> list[np.ndarray]:
    """The frames of an `image2pipe` PGM stream (each one "P5 w h maxval" + w×h bytes)."""
    import numpy as np

    frames: list[np.ndarray] = []
    at = 0
    while at < len(data):
        match = _PGM_HEADER.match(data, at)
        if not match:
            break
        w, h = int(match.group(1)), int(match.group(2))
        begin = match.end()
        if begin + w * h > len(data):
            break
        frames.append(np.frombuffer(data, dtype=np.uint8, count=w * h, offset=begin).reshape(h, w))
        at = begin + w * h
    return frames


def sample_frames(
    src: Path,
    *,
    start: float,
    end: float,
    rate: float = RATE,
    width: int = SAMPLE_WIDTH,
    ffmpeg_bin: str = "ffmpeg",
    cancel: CancelToken | None = None,
    timeout: float | None = None,
) -> list[np.ndarray]:
    """Small gray frames of src [start, end), `rate` per second, from one decode (see the module docstring)."""
    length = max(0.0, end - start)
    argv = [
        *ffmpeg_head(ffmpeg_bin),
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-ss",
        f"{start:.3f}",
        "-t",
        f"{length:.3f}",
        # Frames nothing else refers to are not decoded (the fps filter takes the nearest decoded one): a
        # cheaper decode for samples a quarter of a second apart.
        "-skip_frame",
        "noref",
        "-i",
        f"file:{src}",
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        f"fps={rate:g}:round=down,scale='min({width},iw)':-2:flags=area,format=gray",
        "-f",
        "image2pipe",
        "-c:v",
        "pgm",
        "pipe:1",
    ]
    try:
        out = run(argv, timeout=timeout or 60 + length * 2, cancel=cancel, what="ffmpeg").stdout
    except ProcessFailed as exc:
        raise MediaError(
            "We could not look at this part of the video to frame the reel; it may be damaged there.",
            detail=exc.detail,
        ) from None
    return parse_pgm_stream(out or b"")


# ---------------------------------------------------------------------------------------------- detection


@lru_cache(maxsize=1)
def _cascade() -> Any:
    import cv2

    path = cv2.data.haarcascades + CASCADE  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise MediaError(
            "Face detection is not available on this server (OpenCV's face model is missing); reinstall "
            "opencv-python-headless 4.x.",
            detail=f"could not load {path}",
        )
    return cascade


def detect_faces(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Faces in one small gray frame, as (x, y, w, h) pixel boxes, largest first."""
    # No histogram equalisation: on a flat background it stretches noise into false structure and loses faces.
    side = max(16, round(frame.shape[0] * MIN_FACE))
    # Scale steps of 20 %: a third fewer passes than 10 % and the same faces found on our test footage.
    found = _cascade().detectMultiScale(frame, scaleFactor=1.2, minNeighbors=4, minSize=(side, side))
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def _region_motion(diff: np.ndarray, x: int, y: int, w: int, h: int) -> float:
    part = diff[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)]
    return float(part.mean()) if part.size else 0.0


def track(frames: Sequence[np.ndarray], *, rate: float = RATE) -> Track:
    """Faces, mouth motion and picture motion of each sampled frame (see the module docstring, step 2)."""
    import cv2
    import numpy as np

    samples: list[Sample] = []
    previous: np.ndarray | None = None
    height, width = (frames[0].shape[:2]) if frames else (0, 0)
    for i, frame in enumerate(frames):
        diff = cv2.absdiff(frame, previous) if previous is not None and previous.shape == frame.shape else None
        faces = []
        for x, y, w, h in detect_faces(frame):
            mouth = 0.0
            if diff is not None:
                lower = _region_motion(diff, x + w // 5, y + h * 2 // 3, w * 3 // 5, h // 3 + h // 6)
                upper = _region_motion(diff, x + w // 5, y, w * 3 // 5, h // 3)
                mouth = max(0.0, lower - upper)
            faces.append(Face(x=(x + w / 2) / width, y=(y + h / 2) / height, size=h / height, mouth=mouth))
        motion, motion_x = 0.0, None
        if diff is not None:
            changed = diff > MOTION_DIFF  # compression noise is below this
            motion = float(changed.mean())
            if motion >= MOTION_LEVEL:
                columns = changed.sum(axis=0).astype(np.float32)
                if columns.sum() > 0:
                    motion_x = float((columns * np.arange(width)).sum() / columns.sum() / width)
        samples.append(
            Sample(
                t=i / rate,
                faces=tuple(faces),
                motion=motion,
                motion_x=motion_x,
                sharpness=float(cv2.Laplacian(frame, cv2.CV_32F).var()),
                brightness=float(frame.mean()),
            )
        )
        previous = frame
    return Track(samples=samples, width=width, height=height)


def track_clip(
    src: Path,
    *,
    start: float,
    end: float,
    ffmpeg_bin: str = "ffmpeg",
    cancel: CancelToken | None = None,
) -> Track:
    """`sample_frames` then `track`, timed."""
    import time

    began = time.monotonic()
    frames = sample_frames(src, start=start, end=end, ffmpeg_bin=ffmpeg_bin, cancel=cancel)
    result = track(frames)
    result.seconds = time.monotonic() - began
    return result


# ---------------------------------------------------------------------------------------------- the path


def _speaking(t: float, speech: Sequence[tuple[float, float]] | None) -> bool:
    return speech is None or any(a - 0.2 <= t <= b + 0.2 for a, b in speech)


def subject_targets(
    samples: Sequence[Sample], *, kind: str, speech: Sequence[tuple[float, float]] | None = None
) -> list[tuple[float, float | None]]:
    """Where the camera should look at each sample (share of the source's width), None for "keep looking
    where you are". Faces: the followed face, switching to another one only when it has clearly been the
    speaker (mouth motion while speech is heard) for SWITCH_AFTER seconds; a lost face is held HOLD s."""
    targets: list[tuple[float, float | None]] = []
    followed: float | None = None  # x of the face followed
    last_seen = -math.inf
    rival_since: float | None = None
    activity: dict[int, float] = {}  # per face slot (by nearest x bucket): smoothed mouth motion
    for sample in samples:
        if kind == "motion":
            targets.append((sample.t, sample.motion_x))
            continue
        if not sample.faces:
            if sample.t - last_seen > HOLD:
                followed = None
            targets.append((sample.t, followed))
            continue
        talking = _speaking(sample.t, speech)
        for face in sample.faces:
            slot = round(face.x * 8)
            activity[slot] = 0.6 * activity.get(slot, 0.0) + 0.4 * (face.mouth if talking else 0.0)
        if followed is None:
            best = max(sample.faces, key=lambda f: (activity.get(round(f.x * 8), 0.0), f.size))
            followed, rival_since = best.x, None
        else:
            current = min(sample.faces, key=lambda f: abs(f.x - followed))  # type: ignore[operator]
            if abs(current.x - followed) > 0.25:  # the followed face is not in this sample
                current = None  # type: ignore[assignment]
            mine = activity.get(round(current.x * 8), 0.0) if current else 0.0
            others = [f for f in sample.faces if f is not current]
            rival = max(others, key=lambda f: activity.get(round(f.x * 8), 0.0), default=None)
            loud = rival is not None and activity.get(round(rival.x * 8), 0.0) > max(SWITCH_RATIO * mine, 0.5)
            if loud and talking:
                rival_since = sample.t if rival_since is None else rival_since
                if sample.t - rival_since >= SWITCH_AFTER and rival is not None:
                    followed, rival_since = rival.x, None
                    current = rival
            else:
                rival_since = None
            if current is not None:
                followed = current.x
            elif sample.t - last_seen > HOLD:
                followed = sample.faces[0].x
        last_seen = sample.t
        targets.append((sample.t, followed))
    return targets


def crop_path(
    samples: Sequence[Sample],
    *,
    kind: str,
    crop_share: float,
    speech: Sequence[tuple[float, float]] | None = None,
) -> list[tuple[float, float]]:
    """The crop window's centre (share of the source's width) at each sample time: the camera of step 3.

    `crop_share` is the crop's width over the source's. The centre is kept where the window stays inside the
    frame. Moves are rate-limited, so consecutive points never differ by more than MAX_SPEED·crop_share·dt."""
    half = crop_share / 2
    low, high = half, 1 - half
    if high <= low or not samples:
        return [(0.0, 0.5)]
    return camera(subject_targets(samples, kind=kind, speech=speech), crop_share=crop_share)


def camera(targets: Sequence[tuple[float, float | None]], *, crop_share: float) -> list[tuple[float, float]]:
    """The camera of `crop_path` over given targets (share of the source's width, None: keep looking)."""
    half = crop_share / 2
    low, high = half, 1 - half
    if high <= low or not targets:
        return [(0.0, 0.5)]
    first = next((x for _, x in targets if x is not None), 0.5)
    centre = min(max(first, low), high)
    moving = False
    path: list[tuple[float, float]] = []
    previous_t = targets[0][0]
    for t, target in targets:
        dt = max(0.0, t - previous_t)
        previous_t = t
        if target is not None:
            goal = min(max(target, low), high)
            offset = goal - centre
            if abs(offset) > DEAD_ZONE * crop_share:
                moving = True
            if moving:
                step = min(abs(offset) * FOLLOW, MAX_SPEED * crop_share * dt)
                centre += math.copysign(step, offset)
                if abs(goal - centre) <= SETTLE * crop_share:
                    moving = False
        path.append((t, centre))
    return simplify(path)


def _outer_pair(sample: Sample) -> tuple[Face, Face] | None:
    """The leftmost and rightmost of the sample's three largest faces: the two people a two-shot is about.
    A third face between them (a host in the middle, someone in the audience) does not pull a half to the
    centre, and smaller faces further out (a crowd behind) are not followed."""
    if len(sample.faces) < 2:
        return None
    largest = sorted(sample.faces, key=lambda f: -f.size)[:3]
    return min(largest, key=lambda f: f.x), max(largest, key=lambda f: f.x)


def _apart_pair(sample: Sample, crop_share: float) -> tuple[Face, Face] | None:
    """The sample's two outer faces (`_outer_pair`), when one window cannot hold both."""
    pair = _outer_pair(sample)
    return pair if pair is not None and pair[1].x - pair[0].x > SPLIT_APART * crop_share else None


def wants_split(samples: Sequence[Sample], *, crop_share: float) -> bool:
    """Two speakers side by side, too far apart for one window (see SPLIT_APART, SPLIT_SHARE)."""
    with_faces = [s for s in samples if s.faces]
    if not samples or len(with_faces) < FACE_SHARE * len(samples):
        return False
    apart = sum(1 for s in with_faces if _apart_pair(s, crop_share) is not None)
    return apart >= SPLIT_SHARE * len(with_faces)


def layout_segments(
    samples: Sequence[Sample], *, crop_share: float, duration: float | None = None
) -> list[tuple[float, float, bool]]:
    """The reel's stretches, (start, end, split?) in clip seconds, covering [0, duration): the stacked split
    while two faces too far apart for one window are both there, one window otherwise.

    1. A sample is "split" when its two outer faces are apart (`_apart_pair`).
    2. Consecutive samples of the same kind make a stretch, from its first sample to the next stretch's; a
       stretch of at most HOLD s without the pair between two split ones is split (a missed detection).
    3. While some stretch is shorter than MIN_LAYOUT s, the shortest one takes the kind of its longer
       neighbour and joins it: the layout never flickers, and a reel shorter than MIN_LAYOUT has one layout.
    """
    if not samples:
        return []
    step = samples[1].t - samples[0].t if len(samples) > 1 else 1 / RATE
    end = duration if duration is not None else samples[-1].t + step
    runs: list[list[Any]] = []  # [start, end, split?]
    for i, sample in enumerate(samples):
        split = _apart_pair(sample, crop_share) is not None
        at = 0.0 if i == 0 else sample.t
        if runs and runs[-1][2] == split:
            continue
        if runs:
            runs[-1][1] = at
        runs.append([at, end, split])
    for k in range(1, len(runs) - 1):  # a face missed between two split stretches
        if not runs[k][2] and runs[k][1] - runs[k][0] <= HOLD:
            runs[k][2] = True
    while len(runs) > 1:
        shortest = min(range(len(runs)), key=lambda k: runs[k][1] - runs[k][0])
        if runs[shortest][1] - runs[shortest][0] >= MIN_LAYOUT:
            break
        neighbours = [k for k in (shortest - 1, shortest + 1) if 0 <= k < len(runs)]
        runs[shortest][2] = runs[max(neighbours, key=lambda k: runs[k][1] - runs[k][0])][2]
        merged: list[list[Any]] = []
        for stretch in runs:
            if merged and merged[-1][2] == stretch[2]:
                merged[-1][1] = stretch[1]
            else:
                merged.append(stretch)
        runs = merged
    return [(float(a), float(b), bool(split)) for a, b, split in runs]


def split_paths(
    samples: Sequence[Sample], *, crop_share: float, half_share: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """The stacked layout's two crop paths (top: the left face, bottom: the right face), each a window of
    `half_share` of the source's width. A sample where the two are not both seen holds both halves; a face
    alone is given to the half whose face it is nearest to."""
    left: list[tuple[float, float | None]] = []
    right: list[tuple[float, float | None]] = []
    last_l: float | None = None
    last_r: float | None = None
    for sample in samples:
        pair = _apart_pair(sample, crop_share)
        if pair is not None:
            last_l, last_r = pair[0].x, pair[1].x
            left.append((sample.t, last_l))
            right.append((sample.t, last_r))
            continue
        lx: float | None = None
        rx: float | None = None
        for face in sample.faces[:1]:
            if last_l is None or last_r is None:
                break
            if abs(face.x - last_l) <= abs(face.x - last_r):
                lx = face.x
            else:
                rx = face.x
        left.append((sample.t, lx))
        right.append((sample.t, rx))
    return camera(left, crop_share=half_share), camera(right, crop_share=half_share)


def simplify(path: Sequence[tuple[float, float]], *, tolerance: float = 1e-4) -> list[tuple[float, float]]:
    """Drop points that lie on the line through their neighbours (the camera holding still, or panning at an
    even speed): the ffmpeg expression gets one term per remaining point."""
    if len(path) <= 2:
        return list(path)
    kept = [path[0]]
    for i in range(1, len(path) - 1):
        (t0, x0), (t1, x1), (t2, x2) = kept[-1], path[i], path[i + 1]
        expected = x0 + (x2 - x0) * (t1 - t0) / (t2 - t0) if t2 > t0 else x1
        if abs(expected - x1) > tolerance:
            kept.append(path[i])
    kept.append(path[-1])
    return kept


def value_at(path: Sequence[tuple[float, float]], t: float) -> float:
    """The path's value at `t` (what the ffmpeg expression evaluates): linear between points, flat outside."""
    if t <= path[0][0]:
        return path[0][1]
    for (t0, x0), (t1, x1) in zip(path, path[1:], strict=False):
        if t <= t1:
            return x0 + (x1 - x0) * (t - t0) / (t1 - t0) if t1 > t0 else x1
    return path[-1][1]


def path_expression(path: Sequence[tuple[float, float]]) -> str:
    """The path as an ffmpeg expression of `t`: the first value plus one clipped ramp per segment,
    x0 + Σ (x_{i+1} − x_i)·clip((t − t_i)/(t_{i+1} − t_i), 0, 1). Flat (no nesting), so a long path parses
    fine, and it equals `value_at` everywhere. It holds commas: quote it inside a filtergraph."""
    terms = [f"{path[0][1]:.5f}"]
    for (t0, x0), (t1, x1) in zip(path, path[1:], strict=False):
        if t1 <= t0 or abs(x1 - x0) < 1e-6:
            continue
        terms.append(f"{x1 - x0:+.5f}*clip((t-{t0:.3f})/{t1 - t0:.3f},0,1)")
    return "".join(terms)


def jitter(path: Sequence[tuple[float, float]], *, step: float = 1 / RATE) -> float:
    """How much the camera shakes: the largest change of direction's size, as the mean absolute second
    difference of the centre sampled every `step` s (0 for a still or evenly panning camera)."""
    if len(path) < 2:
        return 0.0
    end = path[-1][0]
    xs = [value_at(path, i * step) for i in range(int(end / step) + 1)]
    seconds = [abs(xs[i + 1] - 2 * xs[i] + xs[i - 1]) for i in range(1, len(xs) - 1)]
    return sum(seconds) / len(seconds) if seconds else 0.0


def best_frame(samples: Sequence[Sample], *, keep: Callable[[float], bool] | None = None) -> float | None:
    """The time (clip seconds) of the frame that makes the best poster: sharp, neither dark nor washed out,
    and with a large face when there is one; None when every sample is near black. `keep` says whether a
    time survives the jump cuts."""
    best, best_score = None, 0.0
    for sample in samples:
        if keep is not None and not keep(sample.t):
            continue
        if sample.brightness < 28 or sample.brightness > 235:
            continue
        exposure = 1.0 - abs(sample.brightness - 120) / 160
        face = max((f.size for f in sample.faces), default=0.0)
        score = math.sqrt(max(sample.sharpness, 0.0)) * exposure * (1 + 4 * face)
        if score > best_score:
            best, best_score = sample.t, score
    return best
