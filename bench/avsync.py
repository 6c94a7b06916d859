"""Measure a joined video against its source: frames, duration, and A/V sync at markers and joins.

    python -m bench.avsync FINAL SOURCE [--joins 9.8,21.0,…] [--json]

It decodes both files with ffmpeg and compares:

* video frames: the decoded `framemd5` lists are aligned (difflib), so a repeated frame, a missing one or
  a changed one is counted, not just the totals;
* duration: the container duration of both, and the sum of frame durations;
* A/V sync at markers: test media carry a white flash frame and a short 1 kHz beep at the same instants
  (`marked_media` below makes them). For every flash the offset to the nearest beep is measured in both
  files; the figure that matters is how far the final's offset moved from the source's (a source may
  have its audio late on purpose). The marker nearest each join is reported on its own.

The tests and the benchmarks call `compare()`; the command prints its report.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

MEASURE_RATE = 16000  # the beep is 1 kHz: plenty, and an hour of it streams quickly
FLASH_LUMA = 200  # mean luma of an 8×8 thumbnail above this is a flash (a white frame is ~235)
BEEP_LEVEL = 0.3  # the beep is full scale, the bed below 0.1
MARKER_PAIR_WINDOW = 0.7  # a flash and a beep further apart than this are not the same marker


@dataclass
class Decoded:
    pts: list[float]  # seconds, from the file's start
    md5: list[str]
    luma: list[float]
    duration: float  # container duration
    audio_start: float | None
    beeps: list[float]

    @property
    def flashes(self) -> list[float]:
        out, previous = [], False
        for t, y in zip(self.pts, self.luma, strict=True):
            lit = y > FLASH_LUMA
            if lit and not previous:
                out.append(t)
            previous = lit
        return out


@dataclass
class Report:
    source_frames: int
    final_frames: int
    repeated: int
    missing: int
    changed: int
    identical: bool
    source_duration: float
    final_duration: float
    duration_error: float
    frame_duration: float
    markers: int
    max_offset_shift: float  # the largest |offset(final) − offset(source)| over all markers, seconds
    audio_gaps: int = 0  # places where one audio packet does not start where the one before it ended
    offsets: list[tuple[float, float, float]] = field(default_factory=list)  # (time, source, final)
    joins: list[tuple[float, float | None]] = field(default_factory=list)  # (join time, shift at nearest marker)

    def lines(self) -> list[str]:
        out = [
            f"frames           source {self.source_frames}   final {self.final_frames}   "
            f"repeated {self.repeated}   missing {self.missing}   changed {self.changed}"
            + ("   (identical)" if self.identical else ""),
            f"duration         source {self.source_duration:.3f} s   final {self.final_duration:.3f} s   "
            f"error {self.duration_error * 1000:+.1f} ms (one frame = {self.frame_duration * 1000:.1f} ms)",
            f"A/V offset shift over {self.markers} markers: max {self.max_offset_shift * 1000:.1f} ms",
            f"audio            gaps or overlaps between packets: {self.audio_gaps}",
        ]
        for join, shift in self.joins:
            shown = "no marker near" if shift is None else f"{shift * 1000:+.1f} ms"
            out.append(f"  join at {join:9.3f} s   offset shift {shown}")
        return out


def _ffmpeg(argv: list[str], timeout: float = 600) -> bytes:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", *argv], capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode("utf-8", "replace")[-2000:])
    return done.stdout


def _probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return json.loads(out)


def decode(path: Path) -> Decoded:
    """Frames (pts, md5, luma) and beep onsets of `path`, all on the file's own clock (0 = its start)."""
    info = _probe(path)
    # -copyts everywhere: times are the file's own timestamps, made relative to its start here, so no
    # ffmpeg re-basing (which differs between containers) can move one stream against the other.
    start = float(info.get("format", {}).get("start_time") or 0)
    with tempfile.TemporaryDirectory() as tmp:
        md5_file = Path(tmp) / "frames.md5"
        raw = _ffmpeg(
            [
                "-copyts",
                "-i",
                str(path),
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-enc_time_base",
                "1/90000",
                "-f",
                "framemd5",
                str(md5_file),
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-vf",
                "scale=8:8,format=gray",
                "-f",
                "rawvideo",
                "-",
            ]
        )
        pts, md5 = [], []
        tb = Fraction(1, 1)
        for line in md5_file.read_text().splitlines():
            if line.startswith("#tb 0:"):
                tb = Fraction(line.split(":", 1)[1].strip())
            if line.startswith("#") or not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")]
            pts.append(float(int(parts[2]) * tb) - start)
            md5.append(parts[5])
    luma = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 64).mean(axis=1).tolist() if raw else []
    audio_start, beeps = None, []
    streams = info.get("streams", [])
    if any(s.get("codec_type") == "audio" for s in streams):
        # first_pts=0 pads the audio from timestamp 0, so sample i is at i / MEASURE_RATE on the same clock
        # as the video frames' pts.
        beeps = _beeps(path, start)
        audio = next(s for s in streams if s.get("codec_type") == "audio")
        fmt_start = float(info.get("format", {}).get("start_time") or 0)
        audio_start = float(audio.get("start_time") or 0) - fmt_start
    return Decoded(
        pts=pts,
        md5=md5,
        luma=luma[: len(pts)],
        duration=float(info.get("format", {}).get("duration") or 0),
        audio_start=audio_start,
        beeps=beeps,
    )


def _beeps(path: Path, start: float) -> list[float]:
    """Onsets of the beeps, read as a stream (an hour of audio is never held at once)."""
    argv = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-copyts",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-af",
        "aresample=async=1:first_pts=0",
        "-ac",
        "1",
        "-ar",
        str(MEASURE_RATE),
        "-f",
        "f32le",
        "-",
    ]
    beeps: list[float] = []
    last = -1e9
    done = 0  # samples read so far
    block = MEASURE_RATE * 4  # bytes: one second of float32
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        pending = b""
        while chunk := proc.stdout.read(block):
            pending += chunk
            usable = len(pending) - len(pending) % 4
            samples = np.abs(np.frombuffer(pending[:usable], dtype="<f4"))
            pending = pending[usable:]
            for i in np.flatnonzero(samples > BEEP_LEVEL):
                t = (done + i) / MEASURE_RATE - start
                if t - last > 0.25:
                    beeps.append(float(t))
                last = t
            done += len(samples)
    return beeps


def _offsets(d: Decoded) -> list[tuple[float, float]]:
    """(flash time, beep − flash) for every flash with a beep near it."""
    out = []
    beeps = np.array(d.beeps)
    for flash in d.flashes:
        if not len(beeps):
            break
        nearest = beeps[np.argmin(np.abs(beeps - flash))]
        if abs(nearest - flash) <= MARKER_PAIR_WINDOW:
            out.append((flash, float(nearest - flash)))
    return out


def audio_gaps(path: Path) -> int:
    """Audio packets of `path` that do not start exactly (to a sample) where the previous one ended."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=pts,duration",
            "-show_entries",
            "stream=time_base,sample_rate",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    data = json.loads(out)
    if not data.get("streams"):
        return 0
    stream = data["streams"][0]
    tb = Fraction(stream["time_base"])
    sample = Fraction(1, int(stream["sample_rate"]))
    packets = sorted((int(p["pts"]), int(p.get("duration") or 0)) for p in data.get("packets", []) if "pts" in p)
    gaps = 0
    for (pts, dur), (nxt, _) in zip(packets, packets[1:], strict=False):
        if abs((nxt - pts - dur) * tb) > sample:
            gaps += 1
    return gaps


def compare(final: Path, source: Path, *, joins: list[float] | None = None) -> Report:
    a, b = decode(source), decode(final)
    repeated = missing = changed = 0
    opcodes = [] if a.md5 == b.md5 else difflib.SequenceMatcher(a=a.md5, b=b.md5, autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2 in opcodes:
        if op == "insert":
            repeated += j2 - j1
        elif op == "delete":
            missing += i2 - i1
        elif op == "replace":
            changed += min(i2 - i1, j2 - j1)
            repeated += max(0, (j2 - j1) - (i2 - i1))
            missing += max(0, (i2 - i1) - (j2 - j1))
    steps = np.diff(a.pts) if len(a.pts) > 1 else np.array([0.04])
    frame = float(np.median(steps))
    src_off, fin_off = _offsets(a), _offsets(b)
    pairs = []
    for t, off in src_off:
        if not fin_off:
            break
        j = int(np.argmin([abs(ft - t) for ft, _ in fin_off]))
        ft, foff = fin_off[j]
        if abs(ft - t) <= MARKER_PAIR_WINDOW:
            pairs.append((t, off, foff))
    shifts = [abs(f - s) for _, s, f in pairs]
    join_rows = []
    for join in joins or []:
        near = [(abs(t - join), f - s) for t, s, f in pairs if abs(t - join) <= 2.0]
        join_rows.append((join, min(near)[1] if near else None))
    return Report(
        source_frames=len(a.md5),
        final_frames=len(b.md5),
        repeated=repeated,
        missing=missing,
        changed=changed,
        identical=a.md5 == b.md5,
        source_duration=a.duration,
        final_duration=b.duration,
        duration_error=b.duration - a.duration,
        frame_duration=frame,
        markers=len(pairs),
        max_offset_shift=max(shifts, default=0.0),
        audio_gaps=audio_gaps(final),
        offsets=pairs,
        joins=join_rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("final", type=Path)
    parser.add_argument("source", type=Path)
    parser.add_argument("--joins", default="", help="comma-separated join times in seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    joins = [float(x) for x in args.joins.split(",") if x.strip()]
    report = compare(args.final, args.source, joins=joins)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
