"""Speech from an OpenAI-compatible API: POST audio/speech with response_format "wav"."""

from __future__ import annotations

from pathlib import Path

import httpx

from ..process import CancelToken
from ..providers.http import ProviderClient
from .base import NotAudio, Speech, decode_to_wav, no_text, scratch_path

VOICES = ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"]
# We ask for WAV; some compatible servers answer in their own format, so accept the common ones.
ACCEPTED_FORMATS = "wav,mp3,ogg,flac"


class OpenAISpeech:
    """`client.base_url` is the API root with the version (".../v1"); the caller sets the Bearer key."""

    name = "openai"

    def __init__(self, client: ProviderClient, *, model: str = "gpt-4o-mini-tts", ffmpeg_bin: str = "ffmpeg") -> None:
        self.client = client
        self.model = model
        self.ffmpeg_bin = ffmpeg_bin

    def voices(self) -> list[tuple[str, str]]:
        return [(v, v.capitalize()) for v in VOICES]

    def words_per_second(self, voice: str) -> float:
        return 2.6  # OpenAI's voices read a little faster than 150 words a minute

    def synthesize(self, text: str, *, voice: str, out: Path, cancel: CancelToken | None = None) -> Speech:
        text = text.strip()
        if not text:
            raise no_text()

        def read(response: httpx.Response) -> float:
            raw = scratch_path(out, ".wav")
            try:
                raw.write_bytes(response.content)
                return decode_to_wav(raw, out, formats=ACCEPTED_FORMATS, ffmpeg_bin=self.ffmpeg_bin, cancel=cancel)
            except NotAudio as exc:
                raise self.client.unreadable("tts", response, f"not audio: {exc.detail}") from None
            finally:
                raw.unlink(missing_ok=True)

        duration = self.client.fetch(
            "POST",
            "audio/speech",
            operation="tts",
            read=read,
            json={"model": self.model, "input": text, "voice": voice, "response_format": "wav"},
            cancel=cancel,
        )
        return Speech(path=out, duration=duration, provider=self.name, voice=voice)
