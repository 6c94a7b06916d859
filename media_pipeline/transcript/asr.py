"""Offline speech recognition, one interval of a video at a time.

    pcm = read_pcm(video, start, duration, cancel=token)       # ffmpeg → 16 kHz mono float32, this interval only
    segments = engine.transcribe(pcm, offset=start)            # times in seconds from the start of the video

Engines (one file each, the same small interface): `whisper.WhisperEngine` (faster-whisper, the default)
and `sphinx.PocketsphinxEngine` (the light fallback, low accuracy). An engine loads its model lazily, once
per process, and a worker that did not preload frees it when the job's transcript is done. On this 2-core
machine (bench/asr.py) two Whisper processes with one thread each do 11× real time together, one process
with two threads 10×: the app runs one lane with one thread per core (ASR_LANES, ASR_THREADS), because
every decoding lane adds ~150 MB to the worker while it runs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import MediaError
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST
from ..process import CancelToken, ProcessFailed, run
from .types import Segment

SAMPLE_RATE = 16_000
# One interval is ~30 s (longer when keyframes are far apart); this bounds what one read may hold
# (10 min = 19 MB of float32) so a wrong argument can never pull a whole file into memory.
MAX_READ_SECONDS = 600.0


class AsrEngine(Protocol):
    """What the job engine needs from a speech recogniser."""

    # Written into Transcript.source, e.g. "asr:whisper-base".
    source: str
    # Shown to the user next to the transcript, e.g. "Whisper base (offline)".
    label: str

    def transcribe(self, pcm: np.ndarray, offset: float) -> list[Segment]:
        """Recognise `pcm` (float32, 16 kHz, mono, -1..1) and return segments with word timestamps in
        seconds from the start of the video (`offset` is where `pcm` starts)."""
        ...


def read_pcm(
    path: Path,
    start: float,
    duration: float,
    *,
    cancel: CancelToken | None = None,
    ffmpeg: str = "ffmpeg",
    timeout: float | None = None,
) -> np.ndarray:
    """The first audio track of `path` from `start` for `duration` seconds, as float32 16 kHz mono.

    ffmpeg seeks to `start` in the input (only the packets of this interval are decoded), resamples and
    downmixes, and writes s16le to a pipe; nothing touches the disk and the rest of the file is never read.
    Shorter than `duration` at the end of the file. Raises Cancelled, or MediaError with a sentence.
    """
    if start < 0 or not 0 < duration <= MAX_READ_SECONDS:
        raise ValueError(f"read_pcm reads 0 < duration <= {MAX_READ_SECONDS:.0f} s from start >= 0")
    argv = [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-ss",
        f"{start:.3f}",
        "-t",
        f"{duration:.3f}",
        # "file:" stops a name that looks like another protocol or option from being read as one.
        "-i",
        f"file:{path}",
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
    try:
        result = run(argv, timeout=timeout or 60 + duration, cancel=cancel, what="ffmpeg")
    except ProcessFailed as exc:
        if "matches no streams" in exc.stderr:
            raise MediaError("The video has no sound, so there is nothing to transcribe.", detail=exc.detail) from None
        raise MediaError("The sound of this video could not be read for the transcript.", detail=exc.detail) from None
    samples = np.frombuffer(result.stdout, dtype="<i2")[: round(duration * SAMPLE_RATE)]
    return samples.astype(np.float32) / 32768.0


def clamp_segments(segments: list[Segment], start: float, end: float) -> list[Segment]:
    """Keep every time inside [start, end] and in order (a word starts at or after the previous word's
    end): decoders can place a word a few frames past the audio they were given or overlap two words,
    and the job engine files words by interval."""
    out: list[Segment] = []
    last = start
    for seg in segments:
        words = []
        for w in seg.words:
            w_start = _clip(w.start, last, end)
            w_end = _clip(w.end, w_start, end)
            words.append(replace(w, start=w_start, end=w_end))
            last = w_end
        seg_start = _clip(seg.start, start, words[0].start if words else end)
        seg_end = _clip(seg.end, words[-1].end if words else seg_start, end)
        out.append(replace(seg, start=seg_start, end=seg_end, words=tuple(words)))
    return out


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
