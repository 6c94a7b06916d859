"""Media for the piece-renderer tests, made with real ffmpeg from lavfi sources, and ways to look at the output."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

from PIL import Image

from .media import ffmpeg, kept

RED, BLUE = (255, 0, 0), (0, 0, 255)


@kept
def landscape(path: Path, *, seconds: float = 7, size: str = "1280x720") -> Path:
    """A moving test pattern with a tone: H.264 + AAC, a keyframe every 2 s (so seeks must be accurate)."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    )
    return path


@kept
def edge_bars(path: Path, *, size: str, seconds: float = 4, bar: int = 60, colour: str = "gray") -> Path:
    """A flat picture with a pure red bar on its left edge and a pure blue bar on its right edge, no audio:
    if the renderer crops the frame, a bar goes missing."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c={colour}:size={size}:rate=25",
        "-vf",
        f"drawbox=x=0:y=0:w={bar}:h=ih:color=red:t=fill,drawbox=x=iw-{bar}:y=0:w={bar}:h=ih:color=blue:t=fill",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-an",
        str(path),
    )
    return path


def frame(video: Path, at: float, out: Path) -> Image.Image:
    """The frame shown at `at` seconds, as RGB."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{at:.3f}", "-i", str(video), "-frames:v", "1", str(out)],
        check=True,
        timeout=60,
    )
    with Image.open(out) as image:
        return image.convert("RGB")


def streams(path: Path) -> list[dict]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,pix_fmt",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout)["streams"]


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (faststart puts `moov` before `mdat`)."""
    kinds: list[str] = []
    with path.open("rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            elif size == 0:
                kinds.append(kind.decode("latin-1"))
                break
            kinds.append(kind.decode("latin-1"))
            f.seek(size - 8, 1)
    return kinds


def is_colour(pixel: tuple[int, int, int], target: tuple[int, int, int], tolerance: int = 60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, target, strict=True))


def white_ink(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int] | None:
    """Bounding box of near-white pixels (the caption's fill) in `box` of the image, in image coordinates."""
    region = image.crop(box) if box else image
    mask = region.convert("L").point(lambda v: 255 if v >= 235 else 0)
    found = mask.getbbox()
    if found is None or box is None:
        return found
    return (found[0] + box[0], found[1] + box[1], found[2] + box[0], found[3] + box[1])
