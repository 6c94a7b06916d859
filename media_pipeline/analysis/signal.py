"""What ffmpeg can tell about one interval without a transcript: hard cuts, loud passages, silences, and the
voice's pitch window by window (voices.py: who speaks, roughly).

Fast by design — interval 0's whole chain (analysis → text → speech → chunk) must finish within about
two seconds on a two-core machine, so each interval costs two cheap ffmpeg runs that go concurrently:

* video: only keyframes are decoded (`-skip_frame nokey`), scaled to 64×36 grey and piped out raw.
  Encoders put a keyframe on a hard cut, so comparing each keyframe with the one before finds cuts at a
  fraction of a full decode (measured: 10 min of 720p in ~3 s instead of ~22 s). A cut to a flat or
  nearly flat picture may not get a keyframe and is then missed; that is the price of the speed.
* audio: 16 kHz mono s16 piped out and measured with numpy in 100 ms windows (RMS, dBFS).
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Cancelled, MediaError
from ..plan import Interval
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST, MediaInfo, clock
from ..process import CancelToken, ProcessFailed, run
from .voices import pitch_track

WINDOW = 0.1  # seconds per loudness window
SAMPLE_RATE = 16_000
FLOOR_DB = -100.0  # what digital silence reads as (log of zero has no value)

# Loud: a window at least LOUD_ABOVE_MEDIAN dB over the interval's median and at least LOUD_MIN_DB, or any
# window at LOUD_ABS_DB or more; runs shorter than LOUD_MIN_RUN are syllables, not passages.
LOUD_ABOVE_MEDIAN = 10.0
LOUD_MIN_DB = -20.0
LOUD_ABS_DB = -10.0
LOUD_MIN_RUN = 0.3
LOUD_BRIDGE = 0.2  # a dip this short inside a loud run does not split it
# Silence: a run of windows below SILENCE_DB lasting at least SILENCE_MIN_RUN.
SILENCE_DB = -45.0
SILENCE_MIN_RUN = 0.7

THUMB_W, THUMB_H = 64, 36
# Video codecs whose ffmpeg decoder really skips non-keyframes with -skip_frame nokey (checked with
# ffmpeg 5.1: hevc, vp9, av1 and mpeg4 decode every frame regardless).
SKIPS_NONKEY = frozenset({"h264"})
KEYFRAME_SEEK_SLACK = 60.0  # seconds read past the interval's length when copying keyframes (see -t below)
SEEK_BEFORE = 0.05  # seconds: seek this far before the start so a keyframe on the start is not the first one
SEEK_BEFORE_UNINDEXED = 5.0
INDEXED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "asf", "mxf"})
# Two consecutive keyframes are a cut when their grey-level histograms differ a lot, when the coarse
# 16×9 picture differs a lot, or when both differ moderately. Synthetic cuts score ≥ 0.5 / ≥ 0.25 and
# keyframes 10 s apart in one moving shot ≤ 0.02 / ≤ 0.02 (tests/analysis_media.py).
CUT_HIST = 0.5
CUT_BLOCK = 0.18
CUT_HIST_WITH_BLOCK = (0.25, 0.08)


@dataclass(frozen=True)
class Passage:
    """A stretch of audio: start/end are seconds of video; `level_db` is its loudest 100 ms window."""

    start: float
    end: float
    level_db: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Cut:
    t: float  # seconds of video where the new shot's keyframe is
    strength: float  # 0–1, how different the picture is from the keyframe before


@dataclass
class SignalAnalysis:
    index: int
    start: float
    end: float
    has_video: bool
    has_audio: bool
    cuts: list[Cut] = field(default_factory=list)
    keyframes: int = 0  # keyframes decoded inside the interval
    window: float = WINDOW
    levels_db: list[float] = field(default_factory=list)  # RMS dBFS per window, the first at `start`
    loud: list[Passage] = field(default_factory=list)
    silences: list[Passage] = field(default_factory=list)
    mean_db: float | None = None  # RMS level of the whole interval (energy mean, not a mean of dB values)
    median_db: float | None = None  # median window level
    peak_db: float | None = None  # loudest window
    pitch_hz: list[float] = field(default_factory=list)  # voice pitch per window, 0 unvoiced (voices.py)
    seconds: float = 0.0  # wall time spent

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {
            "index": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "has_video": self.has_video,
            "has_audio": self.has_audio,
            "cuts": [{"t": round(c.t, 2), "strength": round(c.strength, 3)} for c in self.cuts],
            "keyframes": self.keyframes,
            "loud": [{"start": round(p.start, 2), "end": round(p.end, 2), "db": r(p.level_db)} for p in self.loud],
            "silences": [{"start": round(p.start, 2), "end": round(p.end, 2)} for p in self.silences],
            "mean_db": r(self.mean_db),
            "median_db": r(self.median_db),
            "peak_db": r(self.peak_db),
            "seconds": round(self.seconds, 3),
        }


def has_video(info: MediaInfo) -> bool:
    return bool(info.video_codec) and info.width > 0 and info.height > 0


def analyse_signal(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    *,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 120,
    cancel: CancelToken | None = None,
) -> SignalAnalysis:
    """Cuts, loud passages, silences and per-window loudness for `interval` of `src`.

    One ffmpeg for the video and one for the audio, run at the same time. Raises MediaError with a
    sentence when ffmpeg cannot read that part of the file, Cancelled when `cancel` is set.
    """
    started = time.monotonic()
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    result = SignalAnalysis(
        index=interval.index,
        start=interval.start,
        end=interval.end,
        has_video=has_video(info),
        has_audio=info.has_audio,
    )
    if interval.duration <= 0:
        return result
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="analysis") as pool:
        video = (
            pool.submit(_video_cuts, src, info, interval, ffmpeg_bin=ffmpeg_bin, timeout=timeout, cancel=cancel)
            if result.has_video
            else None
        )
        audio = (
            pool.submit(_audio_samples, src, interval, ffmpeg_bin=ffmpeg_bin, timeout=timeout, cancel=cancel)
            if result.has_audio
            else None
        )
        try:
            if video is not None:
                result.cuts, result.keyframes = video.result()
            samples = audio.result() if audio is not None else None
        except ProcessFailed as exc:
            raise MediaError(
                f"We could not read the video between {clock(interval.start)} and {clock(interval.end)} to find "
                "what happens there; the file may be damaged.",
                detail=exc.detail,
            ) from None
    # ffmpeg may finish before the cancel poll notices; a cancelled job still must not go on with this.
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    if samples is not None:
        _measure_audio(result, samples)
    result.seconds = time.monotonic() - started
    return result


# --- video --------------------------------------------------------------------------------------------


def _filter_path(path: Path) -> str:
    """`path` escaped for a filter option inside a filtergraph (two levels of ffmpeg escaping)."""
    inner = re.sub(r"([\\':])", r"\\\1", str(path))
    return re.sub(r"([\\'\[\],;])", r"\\\1", inner)


def _video_cuts(
    src: Path, info: MediaInfo, interval: Interval, *, ffmpeg_bin: str, timeout: float, cancel: CancelToken | None
) -> tuple[list[Cut], int]:
    """Decode the keyframes of the interval (and the one before it, as the reference) and compare them.

    1. Seek a hair before the start, without accurate seeking, so the keyframe before the start is
       decoded too: it is what the first keyframe inside the interval is compared with, so a cut exactly
       on the boundary (planned boundaries sit on keyframes) is found, by this interval only.
    2. H.264 decoders honour `-skip_frame nokey`, so one ffmpeg decodes only keyframes. Others (HEVC,
       VP9, AV1, MPEG-4 here) decode every frame anyway, so their keyframe packets are first copied into
       a temporary Matroska file (the `noise` filter drops the rest; no decoding) and that is decoded.
    3. `trim` ends the stream at the interval's end (ffmpeg then stops reading); `-t` cannot, because
       with an inexact seek it counts from the keyframe landed on.
    4. `select` computes a scene score only so every frame carries metadata for `metadata=print` to
       write with its timestamp; the frames themselves arrive on stdout as 64×36 grey.
    """
    # Containers with a keyframe index land exactly on the keyframe at or before the seek point; others
    # (MPEG-TS, MPEG-PS …) land near a timestamp, so seek further back to be sure of a reference keyframe.
    before = SEEK_BEFORE if info.format_name in INDEXED_FORMATS else SEEK_BEFORE_UNINDEXED
    seek = max(0.0, interval.start - before)
    tmpdir = Path(tempfile.mkdtemp(prefix="analysis-"))
    whitelist = ["-format_whitelist", FORMAT_WHITELIST, "-protocol_whitelist", PROTOCOL_WHITELIST]
    try:
        stamps = tmpdir / "frames.txt"
        if info.video_codec in SKIPS_NONKEY:
            # Timestamps start at 0 at the seek point.
            origin, end = seek, interval.end - seek
            source = ["-skip_frame", "nokey", "-noaccurate_seek", "-ss", f"{seek:.3f}", *whitelist, "-i", f"file:{src}"]
        else:
            keyframes = tmpdir / "keyframes.mkv"
            copy = [
                ffmpeg_bin,
                "-nostdin",
                "-hide_banner",
                "-v",
                "error",
                "-copyts",
                "-noaccurate_seek",
                # -t counts from the keyframe the seek lands on, which may be well before the start.
                "-ss",
                f"{seek:.3f}",
                "-t",
                f"{interval.end - seek + KEYFRAME_SEEK_SLACK:.3f}",
                *whitelist,
                "-i",
                f"file:{src}",
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-bsf:v",
                "noise=drop=not(key)",
                "-f",
                "matroska",
                f"file:{keyframes}",
            ]
            run(copy, timeout=timeout, cancel=cancel, what="ffmpeg")
            # -copyts keeps the file's own timestamps in both steps.
            origin, end = -info.start_time, info.start_time + interval.end
            source = ["-copyts", *whitelist, "-i", f"file:{keyframes}"]
        graph = (
            f"trim=end={end:.3f},scale={THUMB_W}:{THUMB_H}:flags=area,format=gray,"
            f"select='gte(scene\\,0)',metadata=mode=print:file={_filter_path(stamps)}"
        )
        argv = [
            ffmpeg_bin,
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            # One decoding thread: frame threading only adds latency when every frame is a keyframe
            # far from the next (0.11 s instead of 0.17 s per 30 s of 720p here), and leaves a core for audio.
            "-threads",
            "1",
            *source,
            "-map",
            "0:v:0",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            graph,
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "pipe:1",
        ]
        out = run(argv, timeout=timeout, cancel=cancel, what="ffmpeg")
        times = _frame_times(stamps.read_text("ascii", "replace") if stamps.exists() else "")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    frame_size = THUMB_W * THUMB_H
    frames = np.frombuffer(out.stdout[: len(out.stdout) // frame_size * frame_size], dtype=np.uint8)
    frames = frames.reshape(-1, THUMB_H, THUMB_W)
    count = min(len(frames), len(times))
    # Decoders that reorder may hand back keyframes out of order once the frames between are gone.
    order = sorted(range(count), key=lambda i: times[i])
    video_times = [origin + times[i] for i in order]
    frames = frames[order] if count else frames[:0]
    inside = sum(1 for t in video_times if interval.start - 1e-3 <= t < interval.end)
    return find_cuts(frames, video_times, start=interval.start), inside


def _frame_times(text: str) -> list[float]:
    times = []
    for line in text.splitlines():
        if line.startswith("frame:") and "pts_time:" in line:
            try:
                times.append(float(line.split("pts_time:", 1)[1].split()[0]))
            except (ValueError, IndexError):
                continue
    return times


def picture_change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(histogram distance, coarse picture difference) of two grey frames, both 0–1.

    The histogram half-L1 distance ignores where things are (robust to motion within a shot); the mean
    difference of 16×9 block averages ignores fine detail but sees a new layout with similar colours.
    """
    ha = np.bincount(a.ravel() >> 4, minlength=16) / a.size
    hb = np.bincount(b.ravel() >> 4, minlength=16) / b.size
    hist = float(0.5 * np.abs(ha - hb).sum())
    h, w = a.shape
    by, bx = h // 9, w // 16
    ba = a[: by * 9, : bx * 16].reshape(9, by, 16, bx).mean(axis=(1, 3))
    bb = b[: by * 9, : bx * 16].reshape(9, by, 16, bx).mean(axis=(1, 3))
    block = float(np.abs(ba - bb).mean() / 255)
    return hist, block


def find_cuts(frames: np.ndarray, times: list[float], *, start: float) -> list[Cut]:
    """Cuts among consecutive decoded keyframes; only those at or after `start` are reported."""
    cuts = []
    for i in range(1, len(frames)):
        if times[i] < start - 1e-3:
            continue
        hist, block = picture_change(frames[i - 1], frames[i])
        is_cut = (
            hist >= CUT_HIST
            or block >= CUT_BLOCK
            or (hist >= CUT_HIST_WITH_BLOCK[0] and block >= CUT_HIST_WITH_BLOCK[1])
        )
        if is_cut:
            cuts.append(Cut(t=max(times[i], start), strength=min(1.0, max(hist, block / CUT_BLOCK * CUT_HIST))))
    return cuts


# --- audio --------------------------------------------------------------------------------------------


def _audio_samples(
    src: Path, interval: Interval, *, ffmpeg_bin: str, timeout: float, cancel: CancelToken | None
) -> np.ndarray:
    argv = [
        ffmpeg_bin,
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-ss",
        f"{interval.start:.3f}",
        "-t",
        f"{interval.duration:.3f}",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-i",
        f"file:{src}",
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-c:a",
        "pcm_s16le",
        "-f",
        "s16le",
        "pipe:1",
    ]
    out = run(argv, timeout=timeout, cancel=cancel, what="ffmpeg")
    return np.frombuffer(out.stdout[: len(out.stdout) // 2 * 2], dtype="<i2")


def audio_levels(
    src: Path,
    *,
    start: float,
    end: float,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 120,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """The loudness (dBFS) of each WINDOW of src's first audio track over [start, end): what a reel's tight
    cuts read to find its silences."""
    samples = _audio_samples(src, Interval(0, start, end, False), ffmpeg_bin=ffmpeg_bin, timeout=timeout, cancel=cancel)
    return window_levels(samples)


def window_levels(samples: np.ndarray, *, rate: int = SAMPLE_RATE, window: float = WINDOW) -> np.ndarray:
    """RMS level in dBFS of each `window` of `samples` (a full-scale sine reads −3 dBFS); a last partial
    window of at least half a window counts, shorter ones are dropped."""
    size = int(rate * window)
    if size <= 0 or len(samples) == 0:
        return np.zeros(0)
    whole = len(samples) // size
    x = samples.astype(np.float64) / 32768.0
    blocks = [x[: whole * size].reshape(whole, size)] if whole else []
    rest = x[whole * size :]
    power = np.concatenate([(b**2).mean(axis=1) for b in blocks]) if blocks else np.zeros(0)
    if len(rest) >= size // 2:
        power = np.append(power, (rest**2).mean())
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(power)
    return np.maximum(db, FLOOR_DB)


def _runs(mask: np.ndarray, *, bridge: int = 0) -> list[tuple[int, int]]:
    """[start, end) index runs where mask is true; gaps of at most `bridge` windows are joined."""
    runs: list[tuple[int, int]] = []
    i, n = 0, len(mask)
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        if runs and i - runs[-1][1] <= bridge:
            runs[-1] = (runs[-1][0], j)
        else:
            runs.append((i, j))
        i = j
    return runs


def _measure_audio(result: SignalAnalysis, samples: np.ndarray) -> None:
    levels = window_levels(samples)
    result.levels_db = [round(float(v), 2) for v in levels]
    if len(levels) == 0:
        return
    x = samples.astype(np.float64) / 32768.0
    power = float((x**2).mean())
    result.mean_db = max(FLOOR_DB, 10 * math.log10(power)) if power > 0 else FLOOR_DB
    result.median_db = float(np.median(levels))
    result.peak_db = float(levels.max())
    result.pitch_hz = [round(float(v), 1) for v in pitch_track(samples, rate=SAMPLE_RATE, window=result.window)]
    start, w = result.start, result.window

    def at(i: int) -> float:
        return min(result.end, start + i * w)

    loud = ((levels >= result.median_db + LOUD_ABOVE_MEDIAN) & (levels >= LOUD_MIN_DB)) | (levels >= LOUD_ABS_DB)
    for a, b in _runs(loud, bridge=round(LOUD_BRIDGE / w)):
        if (b - a) * w >= LOUD_MIN_RUN - 1e-9:
            result.loud.append(Passage(at(a), at(b), float(levels[a:b].max())))
    for a, b in _runs(levels < SILENCE_DB):
        if (b - a) * w >= SILENCE_MIN_RUN - 1e-9:
            result.silences.append(Passage(at(a), at(b), float(levels[a:b].max())))
