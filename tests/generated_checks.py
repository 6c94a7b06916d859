"""What a person would check in a video made from a script: it lasts as long as its narration, the voice is
where the timing says, and the caption on screen is the words being spoken (read back from the frames by OCR)."""

from __future__ import annotations

import array
import difflib
import json
import re
import subprocess
from pathlib import Path

from PIL import Image, ImageOps

FRAME = 1 / 25


def streams(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
         "format=duration:stream=codec_type,duration,nb_read_packets,width,height", "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    data = json.loads(out.stdout)
    by_type = {s["codec_type"]: s for s in data["streams"]}
    return {"format": float(data["format"]["duration"]), **by_type}


def audio_samples(path: Path, rate: int = 8000) -> array.array:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return array.array("h", out.stdout)


def voice_onset(samples: array.array, *, start: float, end: float, rate: int = 8000, threshold: int = 300) -> float:
    """The first 10 ms window in [start, end) with sound above `threshold` RMS, in seconds."""
    window = rate // 100
    for i in range(round(start * rate), round(end * rate), window):
        chunk = samples[i : i + window]
        if chunk and (sum(s * s for s in chunk) / len(chunk)) ** 0.5 > threshold:
            return i / rate
    return end


def caption_band(video: Path, at: float, out: Path, *, width: int, height: int) -> Path:
    """The caption strip of the frame at `at` s (the reel captions sit on a line 70 % down, below the card's text), as a PNG."""
    top, band = round(height * 0.63), round(height * 0.18)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{at:.3f}", "-i", str(video), "-frames:v", "1",
         "-vf", f"crop={width}:{band}:0:{top}", str(out)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out


def ocr(png: Path) -> str:
    """Tesseract on white captions with a black outline: keep the white, invert (dark text on light)."""
    with Image.open(png) as image:
        grey = ImageOps.grayscale(image)
        text_only = grey.point(lambda v: 0 if v > 200 else 255)
        ready = png.with_name(png.stem + "-ocr.png")
        text_only.save(ready)
    out = subprocess.run(
        ["tesseract", str(ready), "-", "--psm", "7"], check=True, capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip()


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, words(a), words(b)).ratio()


def check_generated(final: Path, scenes: list[dict], work: Path, *, script: str) -> None:
    """Assert what a viewer would: see the module docstring. `scenes` are the chunk_ready data in order."""
    info = streams(final)
    total = sum(s["duration"] for s in scenes)
    # The video lasts exactly its scenes, each as long as its narration (plus the lead-in and tail):
    assert abs(info["format"] - total) <= FRAME, (info["format"], total)
    assert abs(float(info["video"]["duration"]) - total) <= FRAME
    assert abs(float(info["audio"]["duration"]) - total) <= FRAME
    assert int(info["video"]["nb_read_packets"]) == round(total * 25)
    # Every word of the script is captioned, in order.
    captioned = " ".join(c[2] for s in scenes for c in s["captions"])
    assert words(captioned) == words(script)
    samples = audio_samples(final)
    width, height = int(info["video"]["width"]), int(info["video"]["height"])
    read_back = []
    for scene in scenes:
        first_caption = scene["captions"][0]
        # The voice starts where the first caption does (within two 10 ms windows and a frame), not before.
        onset = voice_onset(samples, start=scene["start"], end=scene["end"])
        assert abs(onset - first_caption[0]) <= FRAME + 0.02, (scene["index"], onset, first_caption)
        for i, (start, end, text) in enumerate(scene["captions"]):
            png = caption_band(
                final, (start + end) / 2, work / f"cap-{scene['index']}-{i}.png", width=width, height=height
            )
            read_back.append((text, ocr(png)))
    # OCR misreads a letter here and there; the caption on screen must still be the spoken words, not its
    # neighbours'. Most captions read back nearly exactly, and the whole sequence reads as the script.
    close = [similarity(expected, got) >= 0.75 for expected, got in read_back]
    assert sum(close) >= 0.8 * len(close), read_back
    assert similarity(" ".join(e for e, _ in read_back), " ".join(g for _, g in read_back)) >= 0.85, read_back
    # Before the voice of the first scene there is no caption yet.
    with Image.open(caption_band(final, 0.1, work / "cap-before.png", width=width, height=height)) as before:
        assert ImageOps.grayscale(before).getextrema()[1] < 120  # nothing white: no caption, no card text
