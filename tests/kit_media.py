"""A talk in three parts read by espeak-ng (real speech, real times), for the publishing-kit tests."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

from media_pipeline.transcript.types import Segment

from .media import ffmpeg, kept

# Three topics, each said in its own words, so a reader hears two clear changes of subject.
PARTS = [
    [
        "Welcome to the kitchen, today we bake sourdough bread.",
        "Sourdough bread starts with a starter of flour and water.",
        "Feed the sourdough starter every day until it bubbles.",
        "Mix the bread dough with flour, water, salt and starter.",
        "Fold the bread dough every half hour for three hours.",
    ],
    [
        "Now let us talk about tomato plants in the garden.",
        "Tomato plants need six hours of sun and deep watering.",
        "Pinch the side shoots so tomato plants grow tall and strong.",
        "Tie each tomato plant to a stake before the fruit gets heavy.",
        "Water the tomato plants at the roots, never on the leaves.",
    ],
    [
        "Finally, a word about bicycle repair at home.",
        "A flat bicycle tyre is fixed with a patch and a pump.",
        "Take the bicycle wheel off and find the hole in the inner tube.",
        "Clean the bicycle chain and oil it once a month.",
        "Check the bicycle brakes before every long ride.",
    ],
]
SIZE, RATE = "640x360", 25


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@kept
def three_topic_talk(path: Path, *, gap: float = 0.4) -> tuple[Path, list[Segment], list[float]]:
    """An H.264/AAC video whose picture changes colour with each part, espeak-ng reading PARTS; returns the
    file, the segments with each sentence's real times, and the start of each part."""
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    assert espeak, "espeak-ng is needed for the speech test media"
    work = path.parent / f"{path.stem}-sentences"
    work.mkdir(exist_ok=True)
    segments: list[Segment] = []
    starts: list[float] = []
    inputs: list[str] = []
    t = 0.0
    n = 0
    for part in PARTS:
        starts.append(round(t, 3))
        for sentence in part:
            wav = work / f"{n}.wav"
            subprocess.run([espeak, "-s", "175", "-w", str(wav), sentence], check=True, timeout=60)
            seconds = _seconds(wav)
            segments.append(Segment(start=round(t, 3), end=round(t + seconds, 3), text=sentence))
            t += seconds + gap
            inputs += ["-i", str(wav)]
            n += 1
    pads = "".join(
        f"[{i}:a]aformat=sample_fmts=fltp:sample_rates=22050:channel_layouts=mono,apad=pad_dur={gap}[s{i}];"
        for i in range(n)
    )
    audio = pads + "".join(f"[s{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1[a]"
    # One colour per part with a moving pattern on it: frames differ in sharpness and across the cuts.
    colours = ["0x8B4513", "0x2E8B57", "0x1E3A8A"]
    video_inputs: list[str] = []
    ends = [*starts[1:], t]
    for colour, a, b in zip(colours, starts, ends, strict=True):
        video_inputs += ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={RATE}:duration={b - a:.3f}"]
        video_inputs += ["-f", "lavfi", "-i", f"color=c={colour}:size={SIZE}:rate={RATE}:duration={b - a:.3f}"]
    v = ""
    for k in range(3):
        pattern, flat = n + 2 * k, n + 2 * k + 1
        v += f"[{flat}:v][{pattern}:v]blend=all_mode=overlay:all_opacity=0.5,setsar=1[v{k}];"
    video = v + "[v0][v1][v2]concat=n=3:v=1:a=0[v]"
    ffmpeg(
        *inputs,
        *video_inputs,
        "-filter_complex",
        audio + ";" + video,
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "superfast",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-t",
        f"{t:.3f}",
        str(path),
    )
    return path, segments, starts
