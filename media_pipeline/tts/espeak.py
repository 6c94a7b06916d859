"""Offline speech with espeak-ng: robotic but always there, no network, no key."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MediaError
from ..process import CancelToken, ProcessFailed, run
from ..providers.registry import Calls, Conf, ProviderSpec
from .base import Speech, decode_to_wav, no_text, scratch_path

# espeak-ng voice names: a language ("en-us", "en-gb-scotland") and an optional variant ("+f3"). Anything
# else is refused before it reaches the command line.
VOICE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8}){0,3}(\+[a-z0-9]{1,12})?$")
VOICES = [
    ("en-us", "American English, male"),
    ("en-us+f3", "American English, female"),
    ("en-gb", "British English, male"),
    ("en-gb+f3", "British English, female"),
    ("en-gb-scotland", "Scottish English"),
    ("en-029", "Caribbean English"),
]


class EspeakEngine:
    name = "espeak"

    def __init__(
        self, *, binary: str = "espeak-ng", ffmpeg_bin: str = "ffmpeg", rate_wpm: int = 165, timeout: float = 60
    ) -> None:
        self.binary = binary
        self.ffmpeg_bin = ffmpeg_bin
        self.rate_wpm = rate_wpm
        self.timeout = timeout

    def voices(self) -> list[tuple[str, str]]:
        """(voice, label) pairs for the upload form."""
        return list(VOICES)

    def words_per_second(self, voice: str) -> float:
        return self.rate_wpm / 60.0

    def synthesize(self, text: str, *, voice: str, out: Path, cancel: CancelToken | None = None) -> Speech:
        text = text.strip()
        if not text:
            raise no_text()
        if not VOICE_RE.match(voice):
            raise MediaError(f"The voice {voice!r} is not available.", detail="not an espeak-ng voice name")
        # The text goes in a file, not argv: it can be long and may start with "-".
        source = scratch_path(out, ".txt")
        raw = scratch_path(out, ".wav")
        try:
            source.write_text(text, encoding="utf-8")
            argv = [
                self.binary,
                "-v",
                voice,
                "-s",
                str(self.rate_wpm),
                "-w",
                str(raw.absolute()),
                "-f",
                str(source.absolute()),
            ]
            try:
                run(argv, timeout=self.timeout, cancel=cancel, what="espeak-ng")
            except ProcessFailed as exc:
                if "voice does not exist" in exc.stderr:
                    raise MediaError(f"The voice {voice!r} is not available.", detail=exc.detail) from None
                raise
            duration = decode_to_wav(raw, out, formats="wav", ffmpeg_bin=self.ffmpeg_bin, cancel=cancel)
        finally:
            source.unlink(missing_ok=True)
            raw.unlink(missing_ok=True)
        return Speech(path=out, duration=duration, provider=self.name, voice=voice)


def _build(conf: Conf, calls: Calls) -> EspeakEngine:
    # No network, so nothing in `calls` applies.
    return EspeakEngine(binary=conf["ESPEAK_BIN"], ffmpeg_bin=conf["FFMPEG_BIN"], rate_wpm=conf["ESPEAK_RATE_WPM"])


PROVIDER = ProviderSpec(
    name="espeak",
    label="espeak-ng (offline)",
    settings={"ESPEAK_BIN": "espeak-ng", "ESPEAK_RATE_WPM": 165, "FFMPEG_BIN": "ffmpeg"},
    make=_build,
    list_voices=lambda conf: list(VOICES),
)
