"""What every speech engine offers, and the decode step they share: whatever audio a provider sends
becomes the one WAV the renderer expects (pcm_s16le, mono, 24000 Hz), and decoding it is the check that it
is audio at all."""

from __future__ import annotations

import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import MediaError
from ..files import atomic_output
from ..probe import PROTOCOL_WHITELIST
from ..process import CancelToken, ffmpeg_head, run

SAMPLE_RATE = 24000
# The shortest audio we accept for a non-empty text: less is a broken answer, not speech.
MIN_SECONDS = 0.05


@dataclass
class Speech:
    path: Path
    duration: float  # measured from the written WAV
    provider: str
    voice: str


class SpeechEngine(Protocol):
    name: str

    def words_per_second(self, voice: str) -> float: ...

    def synthesize(self, text: str, *, voice: str, out: Path, cancel: CancelToken | None = None) -> Speech: ...


class NotAudio(MediaError):
    """Bytes that ffmpeg could not decode as audio (or that decode to almost nothing)."""


def no_text() -> MediaError:
    return MediaError("There is no text to speak.", detail="synthesize() got empty text")


def scratch_path(out: Path, suffix: str) -> Path:
    """A temporary name beside `out` (same filesystem, server-made), for a provider's raw audio."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.stem}.{uuid.uuid4().hex[:8]}.raw{suffix}")


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2 or wav.getframerate() != SAMPLE_RATE:
            raise NotAudio("The speech audio came out in an unexpected format.", detail=f"{path}: not s16 mono 24k")
        return wav.getnframes() / wav.getframerate()


def decode_to_wav(
    src: Path,
    out: Path,
    *,
    formats: str,
    ffmpeg_bin: str = "ffmpeg",
    cancel: CancelToken | None = None,
    timeout: float = 120,
) -> float:
    """Decode `src` (one of the demuxers in `formats`, e.g. "mp3") into `out` as pcm_s16le mono 24 kHz,
    atomically; return the measured duration. Raises NotAudio when it is not audio or is (nearly) empty."""
    with atomic_output(out) as tmp:
        argv = [
            *ffmpeg_head(ffmpeg_bin),
            "-protocol_whitelist",
            PROTOCOL_WHITELIST,
            "-format_whitelist",
            formats,
            "-i",
            f"file:{src}",
            "-map",
            "0:a:0",
            "-map_metadata",
            "-1",
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            f"file:{tmp}",
        ]
        try:
            run(argv, timeout=timeout, cancel=cancel, what="ffmpeg")
            duration = wav_duration(tmp)
        except (MediaError, wave.Error, EOFError) as exc:
            detail = getattr(exc, "detail", "") or str(exc)
            raise NotAudio("The speech audio could not be decoded.", detail=detail) from None
        if duration < MIN_SECONDS:
            raise NotAudio("The speech audio is empty.", detail=f"{duration:.3f} s of audio")
    return duration
