"""Tight cuts: which parts of a reel's range to keep when silences (and, if asked, filler words) are cut out
as jump cuts, and how source times map to the reel's own once they are gone.

Silences come from the loudness windows `analysis.signal` measures (100 ms RMS); filler words ("um", "uh")
from the transcript's word timings. A silence is cut when it lasts longer than MIN_SILENCE, leaving PAD of
it on either side so words are not clipped; a filler is cut over its own time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SILENCE = 0.6
PAD = 0.12
MIN_KEEP = 0.25  # a kept sliver shorter than this between two cuts goes too (it would flash)
WINDOW = 0.1
FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm", "mhm"})


def is_filler(word: str) -> bool:
    return re.sub(r"[^a-z]", "", word.lower()) in FILLERS


def quiet_threshold(levels: Sequence[float]) -> float:
    """The level below which a window counts as silence: 25 dB under the loud windows (90th percentile),
    between −50 and −30 dBFS, so a noisy room's pauses count and a quiet speaker's words do not."""
    if not levels:
        return -45.0
    ordered = sorted(levels)
    loud = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return min(-30.0, max(-50.0, loud - 25.0))


def silences(levels: Sequence[float], *, start: float, window: float = WINDOW) -> list[tuple[float, float]]:
    """Runs of quiet windows (source seconds) lasting longer than MIN_SILENCE; `levels[i]` covers
    start + i·window."""
    threshold = quiet_threshold(levels)
    runs: list[tuple[float, float]] = []
    begin: int | None = None
    for i, level in enumerate([*levels, 0.0]):  # a loud sentinel closes the last run
        quiet = i < len(levels) and level < threshold
        if quiet and begin is None:
            begin = i
        elif not quiet and begin is not None:
            a, b = start + begin * window, start + i * window
            if b - a > MIN_SILENCE:
                runs.append((a, b))
            begin = None
    return runs


@dataclass(frozen=True)
class Cuts:
    """The kept ranges of [start, end) (source seconds, in order, not overlapping)."""

    keep: tuple[tuple[float, float], ...]

    @property
    def duration(self) -> float:
        return sum(b - a for a, b in self.keep)

    @property
    def start(self) -> float:
        return self.keep[0][0]

    @property
    def removed(self) -> float:
        return self.keep[-1][1] - self.keep[0][0] - self.duration

    def to_output(self, t: float) -> float:
        """Seconds of the reel at source time t; a time inside a cut maps to the join (non-decreasing)."""
        out = 0.0
        for a, b in self.keep:
            if t < a:
                return out
            if t <= b:
                return out + t - a
            out += b - a
        return out

    def offsets(self) -> list[tuple[float, float]]:
        """(source time a kept range starts, seconds removed before it, counted from the reel's start)."""
        result, removed, previous = [], 0.0, self.keep[0][0]
        for a, b in self.keep:
            removed += a - previous
            result.append((a, removed))
            previous = b
        return result


def plan_cuts(
    *,
    start: float,
    end: float,
    levels: Sequence[float] | None = None,
    words: Sequence[tuple[float, float, str]] = (),
    fillers: bool = False,
) -> Cuts:
    """What to keep of [start, end) (see the module docstring). Nothing to cut: one range, the whole."""
    removals: list[tuple[float, float]] = []
    for a, b in silences(levels or [], start=start):
        removals.append((a + PAD if a > start + 0.01 else a, b - PAD if b < end - 0.01 else b))
    if fillers:
        removals.extend((w0, w1) for w0, w1, text in words if w1 > w0 and is_filler(text))
    removals = sorted((max(a, start), min(b, end)) for a, b in removals if min(b, end) > max(a, start))
    keep: list[tuple[float, float]] = []
    cursor = start
    for a, b in removals:
        if a > cursor:
            keep.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        keep.append((cursor, end))
    # Slivers between cuts go; never cut everything (a reel of pure silence stays as it is).
    keep = [(a, b) for a, b in keep if b - a >= MIN_KEEP or (a, b) in (keep[:1] + keep[-1:]) and b - a > 0.05]
    if sum(b - a for a, b in keep) < 0.5:
        return Cuts(keep=((start, end),))
    return Cuts(keep=tuple(keep))
