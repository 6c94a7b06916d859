"""Test media with known events for the interval analysis, made with real ffmpeg (and espeak-ng for speech).

`scenes_file` is the main one — 36 s, 640×360 at 25 fps, H.264 (x264 with its default scenecut, `-g 250`)
and AAC. What is in it, by construction:

    video  0–12 testsrc2 (moving; x264 puts a periodic keyframe at 10 s — not a cut)
          12–16 smptebars   16–20 mandelbrot   20–24 testsrc   24–36 rgbtestsrc (a still picture)
           → hard cuts at 12, 16, 20 and 24 s
    audio  0–4 quiet tone (−33 dBFS)   4–7 loud noise (≈ −6 dBFS)   7–10 silence   10–14 quiet tone
          14–16 loud noise   16–24 quiet tone   24–36 silence
           → loud passages 4–7 and 14–16, silences 7–10 and 24–36
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

from media_pipeline.probe import MediaInfo
from media_pipeline.transcript.types import Segment

from .media import ffmpeg, kept

SIZE = "640x360"
RATE = 25
CUTS = [12.0, 16.0, 20.0, 24.0]
PERIODIC_KEYFRAMES = [10.0, 34.0]  # keyframes inside one shot: must not be reported as cuts
LOUD = [(4.0, 7.0), (14.0, 16.0)]
SILENCES = [(7.0, 10.0), (24.0, 36.0)]
DURATION = 36.0

_SHOTS = [
    ("testsrc2", 12),
    ("smptebars", 4),
    ("mandelbrot", 4),
    ("testsrc", 4),
    ("rgbtestsrc", 12),
]
# (kind, seconds): tone at −33 dBFS, white noise at about −6 dBFS RMS, digital silence.
_AUDIO = [("tone", 4), ("noise", 3), ("silence", 3), ("tone", 4), ("noise", 2), ("tone", 8), ("silence", 12)]


def _video_inputs() -> list[str]:
    args = []
    for source, seconds in _SHOTS:
        # mandelbrot has no duration option; trim it instead.
        args += ["-f", "lavfi", "-i", f"{source}=size={SIZE}:rate={RATE},trim=duration={seconds}"]
    return args


def _audio_inputs() -> list[str]:
    args = []
    for kind, seconds in _AUDIO:
        source = {
            "tone": f"sine=frequency=440:sample_rate=44100:duration={seconds},volume=0.25",
            "noise": f"anoisesrc=sample_rate=44100:amplitude=0.85:duration={seconds}:seed=7",
            "silence": f"anullsrc=r=44100:cl=mono,atrim=duration={seconds}",
        }[kind]
        args += ["-f", "lavfi", "-i", source]
    return args


def _x264(preset: str = "superfast") -> list[str]:
    # Not ultrafast: it turns scenecut off, and keyframes on cuts are what the analysis relies on.
    return ["-c:v", "libx264", "-preset", preset, "-g", "250", "-pix_fmt", "yuv420p"]


@kept
def scenes_file(path: Path, *, audio: bool = True, video: bool = True) -> Path:
    """The file described in the module docstring; `audio=False` or `video=False` leave a track out."""
    args: list[str] = []
    graph = []
    n = 0
    if video:
        args += _video_inputs()
        graph.append("".join(f"[{i}:v]" for i in range(len(_SHOTS))) + f"concat=n={len(_SHOTS)}:v=1:a=0[v]")
        n = len(_SHOTS)
    if audio:
        args += _audio_inputs()
        ins = "".join(f"[{n + i}:a]aformat=sample_fmts=fltp:channel_layouts=mono[a{i}];" for i in range(len(_AUDIO)))
        graph.append(ins + "".join(f"[a{i}]" for i in range(len(_AUDIO))) + f"concat=n={len(_AUDIO)}:v=0:a=1[a]")
    maps = (["-map", "[v]", *_x264()] if video else []) + (
        ["-map", "[a]", "-c:a", "aac", "-b:a", "96k"] if audio else []
    )
    ffmpeg(*args, "-filter_complex", ";".join(graph), *maps, "-t", str(DURATION), str(path))
    return path


@kept
def bench_720p(path: Path, *, seconds: float = 60) -> Path:
    """720p30 H.264 (2 s GOP, like most streaming encodes) + AAC stereo, for timing the analysis."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:sample_rate=48000",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        "2",
        str(path),
    )
    return path


TALK = [
    "Welcome back to the workshop on compilers.",
    "Today we look at how a parser turns tokens into a syntax tree.",
    "The parser reads one token at a time and decides which rule applies.",
    "A recursive descent parser has one function for every rule of the grammar.",
    "When the tokens do not match any rule, the parser reports a syntax error.",
    "Next we will write a parser for arithmetic expressions together.",
]


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@kept
def talk_file(path: Path, *, gap: float = 0.3) -> tuple[Path, list[Segment]]:
    """A still picture with espeak-ng reading TALK, sentence after sentence with `gap` s pauses; returns
    the file and the transcript segments with the real times of each sentence."""
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    assert espeak, "espeak-ng is needed for the speech test media"
    work = path.parent / f"{path.stem}-sentences"
    work.mkdir(exist_ok=True)
    segments, inputs, t = [], [], 0.0
    for i, sentence in enumerate(TALK):
        wav = work / f"{i}.wav"
        subprocess.run([espeak, "-w", str(wav), sentence], check=True, timeout=60)
        seconds = _wav_seconds(wav)
        segments.append(Segment(start=round(t, 3), end=round(t + seconds, 3), text=sentence))
        t += seconds + gap
        inputs += ["-i", str(wav)]
    pads = "".join(
        f"[{i}:a]aformat=sample_fmts=fltp:sample_rates=22050:channel_layouts=mono,apad=pad_dur={gap}[s{i}];"
        for i in range(len(TALK))
    )
    graph = pads + "".join(f"[s{i}]" for i in range(len(TALK))) + f"concat=n={len(TALK)}:v=0:a=1[a]"
    ffmpeg(
        *inputs,
        "-f",
        "lavfi",
        "-i",
        f"rgbtestsrc=size={SIZE}:rate={RATE}",
        "-filter_complex",
        graph,
        "-map",
        f"{len(TALK)}:v",
        "-map",
        "[a]",
        *_x264(),
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-t",
        f"{t:.3f}",
        str(path),
    )
    return path, segments


def audio_only_info(path: Path, *, duration: float = DURATION) -> MediaInfo:
    """MediaInfo for an audio-only file: probe refuses those, but the analysis must still work."""
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=duration,
        start_time=0.0,
        size=path.stat().st_size,
        video_codec="",
        width=0,
        height=0,
        fps=0.0,
        pix_fmt="",
        audio_codec="aac",
        audio_channels=1,
        stream_count=1,
    )


@kept
def reencode(src: Path, path: Path, *codec_args: str) -> Path:
    """The video of `src` in another codec/container (for the decoders that cannot skip non-keyframes)."""
    ffmpeg("-i", str(src), "-map", "0:v:0", *codec_args, str(path))
    return path


def dialogue_file(path: Path, lines: list[tuple[list[str], str]], *, gap: float = 0.4) -> tuple[Path, list[Segment]]:
    """A still picture with espeak-ng speaking `lines`, each as (espeak voice arguments, sentence), e.g. a
    low voice (["-v", "en-us", "-p", "15"]) and a high one (["-v", "en-us+f3", "-p", "80"]) taking turns;
    the sound at 44.1 kHz and the picture at 29.97 fps. Returns the file and its segments (real times)."""
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    assert espeak, "espeak-ng is needed for the speech test media"
    work = path.parent / f"{path.stem}-lines"
    work.mkdir(exist_ok=True)
    segments, inputs, t = [], [], 0.0
    for i, (voice, sentence) in enumerate(lines):
        wav = work / f"{i}.wav"
        subprocess.run([espeak, *voice, "-w", str(wav), sentence], check=True, timeout=60)
        seconds = _wav_seconds(wav)
        segments.append(Segment(start=round(t, 3), end=round(t + seconds, 3), text=sentence))
        t += seconds + gap
        inputs += ["-i", str(wav)]
    pads = "".join(
        f"[{i}:a]aformat=sample_fmts=fltp:sample_rates=44100:channel_layouts=mono,apad=pad_dur={gap}[s{i}];"
        for i in range(len(lines))
    )
    graph = pads + "".join(f"[s{i}]" for i in range(len(lines))) + f"concat=n={len(lines)}:v=0:a=1[a]"
    ffmpeg(
        *inputs,
        *("-f", "lavfi", "-i", f"smptebars=size={SIZE}:rate=30000/1001"),
        *("-filter_complex", graph, "-map", f"{len(lines)}:v", "-map", "[a]"),
        *_x264(),
        *("-c:a", "aac", "-b:a", "96k", "-t", f"{t:.3f}"),
        str(path),
    )
    return path, segments
