"""Test media made with real ffmpeg from lavfi sources: nothing is downloaded, nothing checked in."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=300)


def h264_aac(path: Path, *, seconds: float = 25, size: str = "320x240", rate: int = 25, gop: int = 25) -> Path:
    """Browser-playable source (stream-copy path), a keyframe every `gop` frames, a tone for audio."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
        "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest", str(path),
    )  # fmt: skip
    return path


def mpeg4_avi(path: Path, *, seconds: float = 25, size: str = "320x240", rate: int = 25) -> Path:
    """MPEG-4 Part 2 in AVI: browsers cannot play it, so the transcode path is taken."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds), "-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame", "-shortest", str(path),
    )  # fmt: skip
    return path


def video_only(path: Path, *, seconds: float = 12) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", str(seconds), "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


def audio_only(path: Path, *, seconds: float = 5) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-c:a", "aac", str(path))
    return path


def duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return float(out.stdout.strip())


def codecs(path: Path) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return [s["codec_name"] for s in json.loads(out.stdout)["streams"]]
