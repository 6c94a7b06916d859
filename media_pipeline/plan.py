"""Split a video into intervals of about the chosen length, each starting on a keyframe where possible."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST, MediaInfo
from .process import CancelToken, run

# A chunk shorter than this fraction of the interval is folded into its neighbour.
MIN_TAIL_FRACTION = 0.25


@dataclass(frozen=True)
class Interval:
    index: int
    start: float  # seconds from the start of the file
    end: float
    starts_on_keyframe: bool

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict:
        return {"index": self.index, "start": round(self.start, 3), "end": round(self.end, 3)}


def keyframes_near(
    path: Path,
    targets: list[float],
    *,
    info: MediaInfo,
    ffprobe: str = "ffprobe",
    timeout: float = 60,
    cancel: CancelToken | None = None,
) -> dict[float, float | None]:
    """For each target time, the keyframe at or just before it (None when the demuxer gave no keyframe).

    One ffprobe call seeks to every target and reads a single video packet there: a seek lands on the
    keyframe at or before the target, so this costs one packet per interval instead of a full scan.
    """
    if not targets:
        return {}
    # read_intervals take stream timestamps; our times are relative to the file's start.
    spec = ",".join(f"{info.start_time + t:.3f}%+#1" for t in targets)
    argv = [
        ffprobe,
        "-v",
        "error",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-select_streams",
        "v:0",
        "-read_intervals",
        spec,
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
        f"file:{path}",
    ]
    result = run(argv, timeout=timeout, cancel=cancel, what="ffprobe")
    found: list[float | None] = []
    for line in result.stdout.decode("ascii", "replace").splitlines():
        parts = line.strip().split(",")
        if len(parts) < 2 or parts[0] in ("", "N/A"):
            found.append(None)
            continue
        found.append(float(parts[0]) - info.start_time if "K" in parts[1] else None)
    # Packets come back in target order, one per interval; pad if the demuxer returned fewer.
    found += [None] * (len(targets) - len(found))
    return dict(zip(targets, found[: len(targets)], strict=True))


def plan_intervals(
    info: MediaInfo, *, interval: float, keyframes: dict[float, float | None] | None = None
) -> list[Interval]:
    """Intervals covering [0, duration].

    1. Place boundaries every `interval` seconds (`boundary_targets`).
    2. With `keyframes` (the video will be stream-copied), move each boundary back to the keyframe the
       demuxer gave for it. A boundary with no keyframe at least a quarter interval after the previous
       boundary is dropped: that chunk runs on to the next keyframe. So every chunk of a copied video
       starts on a keyframe and is copied — one encoding for the whole playlist, never a mix.
    3. Without `keyframes` (the video is transcoded) the boundaries stay exactly where they were placed.
    4. Fold a last chunk shorter than a quarter interval into the one before it.
    """
    duration = info.duration
    min_len = interval * MIN_TAIL_FRACTION
    copy = keyframes is not None
    boundaries = [0.0]
    for target in boundary_targets(duration, interval):
        boundary = keyframes.get(target) if keyframes is not None else target
        if boundary is not None and boundary - boundaries[-1] >= min_len:
            boundaries.append(boundary)
    if duration - boundaries[-1] < min_len and len(boundaries) > 1:
        boundaries.pop()
    ends = boundaries[1:] + [duration]
    return [
        Interval(index=i, start=start, end=end, starts_on_keyframe=copy)
        for i, (start, end) in enumerate(zip(boundaries, ends, strict=True))
    ]


def boundary_targets(duration: float, interval: float) -> list[float]:
    """Where boundaries go before any snapping: every `interval` seconds, strictly inside the video."""
    return [i * interval for i in range(1, math.ceil(duration / interval)) if i * interval < duration]
