"""Media for the commentary-mix tests: a low tone for the original sound, a high tone (or espeak-ng) for the
voice, so a band-pass of the output tells the two apart. Made with real ffmpeg; nothing is checked in."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from media_pipeline.render.mix import measure_windows

from .media import ffmpeg, kept

ORIGINAL_HZ = 300
VOICE_HZ = 3000
ORIGINAL_BAND = (200.0, 400.0)
VOICE_BAND = (2500.0, 3500.0)


@kept
def tone_source(
    path: Path,
    *,
    seconds: float = 12,
    size: str = "320x240",
    rate: int = 25,
    gop: int = 25,
    hz: int = ORIGINAL_HZ,
    sample_rate: int = 44100,
    channels: int = 1,
    amplitude: float = 0.125,
) -> Path:
    """H.264 + AAC (the copy path), a keyframe every `gop` frames, a steady tone of `amplitude` for sound."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}",
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc={amplitude}*sin({hz}*2*PI*t):s={sample_rate}",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        str(gop),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        str(channels),
        "-shortest",
        str(path),
    )
    return path


@kept
def mpeg4_tone_source(path: Path, *, seconds: float = 8, hz: int = ORIGINAL_HZ) -> Path:
    """MPEG-4 Part 2 + MP3 in AVI: the transcode path."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc=0.125*sin({hz}*2*PI*t):s=44100",
        "-t",
        str(seconds),
        "-c:v",
        "mpeg4",
        "-q:v",
        "5",
        "-c:a",
        "libmp3lame",
        "-shortest",
        str(path),
    )
    return path


@kept
def tone_wav(path: Path, *, seconds: float = 4, hz: int = VOICE_HZ, amplitude: float = 0.05) -> Path:
    """A stand-in for TTS output: pcm_s16le mono 24 kHz, a steady high tone (deliberately not at −16 dB)."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc={amplitude}*sin({hz}*2*PI*t):s=24000",
        "-t",
        str(seconds),
        "-c:a",
        "pcm_s16le",
        "-ac",
        "1",
        str(path),
    )
    return path


@kept
def espeak_wav(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, timeout=60, capture_output=True)
    return path


def frame_hashes(path: Path, start: float | None = None, end: float | None = None) -> list[str]:
    """MD5 of every decoded video frame (in [start, end) of the file when given)."""
    args = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0"]
    if start is not None:
        args += ["-vf", f"select='between(t,{start - 0.001},{end - 0.001})'"]
    args += ["-fps_mode", "passthrough", "-f", "framemd5", "-"]
    out = subprocess.run(args, capture_output=True, check=True, timeout=60, text=True).stdout
    return [line.rsplit(",", 1)[-1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def stream_info(path: Path) -> list[dict[str, str]]:
    """codec_type, codec_name, sample_rate, channels, start_time of every stream."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,sample_rate,channels,start_time",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [{key: str(value) for key, value in s.items()} for s in json.loads(out)["streams"]]


def peak_db(path: Path) -> float:
    """The highest sample of the decoded audio, in dBFS."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return 20 * float(np.log10(np.max(np.abs(np.frombuffer(raw, dtype="<f4")))))


def onset(path: Path, band: tuple[float, float], *, threshold_db: float, step: float = 0.01, until: float = 5) -> float:
    """The start of the first `step`-long window whose level in `band` reaches `threshold_db`."""
    starts = [i * step for i in range(int(until / step))]
    levels = measure_windows(path, windows=[(s, s + step) for s in starts], band=band)
    return next(s for s, level in zip(starts, levels, strict=True) if level >= threshold_db)
