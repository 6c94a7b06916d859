"""Speech from an OpenAI-compatible API: POST audio/speech with response_format "wav"."""

from __future__ import annotations

from pathlib import Path

import httpx

from ..process import CancelToken
from ..providers.http import ProviderClient
from ..providers.registry import Calls, Conf, ProviderSpec, Service
from .base import NotAudio, Speech, decode_to_wav, no_text, scratch_path

VOICES = ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"]
# We ask for WAV; some compatible servers answer in their own format, so accept the common ones.
ACCEPTED_FORMATS = "wav,mp3,ogg,flac"
DEFAULT_MODEL = "gpt-4o-mini-tts"
SERVICE = Service(scope="tts", name="openai", label="The speech service", key_setting="OPENAI_API_KEY")


class OpenAISpeech:
    """`client.base_url` is the API root with the version (".../v1"); the caller sets the Bearer key."""

    name = "openai"

    def __init__(self, client: ProviderClient, *, model: str = DEFAULT_MODEL, ffmpeg_bin: str = "ffmpeg") -> None:
        self.client = client
        self.model = model
        self.ffmpeg_bin = ffmpeg_bin

    def voices(self) -> list[tuple[str, str]]:
        return _voices()

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


def _voices(conf: Conf | None = None) -> list[tuple[str, str]]:
    return [(v, v.capitalize()) for v in VOICES]


def _build(conf: Conf, calls: Calls) -> OpenAISpeech:
    client = calls.client(
        SERVICE, base_url=conf["OPENAI_BASE_URL"], api_key=conf["OPENAI_API_KEY"], timeout=conf["PROVIDER_TIMEOUT"]
    )
    return OpenAISpeech(client, model=conf["TTS_MODEL"] or DEFAULT_MODEL, ffmpeg_bin=conf["FFMPEG_BIN"])


PROVIDER = ProviderSpec(
    name="openai",
    label="OpenAI-compatible speech (/audio/speech)",
    settings={
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "OPENAI_API_KEY": "",
        "TTS_MODEL": DEFAULT_MODEL,
        "PROVIDER_TIMEOUT": 60.0,
        "FFMPEG_BIN": "ffmpeg",
    },
    make=_build,
    list_voices=_voices,
)
