"""Speech from ElevenLabs: POST v1/text-to-speech/{voice_id}, MP3 back, decoded to our WAV."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx

from ..process import CancelToken
from ..providers.http import ProviderClient
from ..providers.registry import Calls, Conf, ProviderSpec, Service
from .base import NotAudio, Speech, decode_to_wav, no_text, scratch_path

OUTPUT_FORMAT = "mp3_44100_128"
DEFAULT_MODEL = "eleven_multilingual_v2"
SERVICE = Service(
    scope="tts",
    name="elevenlabs",
    label="The speech service (ElevenLabs)",
    key_setting="ELEVENLABS_API_KEY",
    key_header="xi-api-key",
)


class ElevenLabsEngine:
    """`client.base_url` is the API host ("https://api.elevenlabs.io"); the caller puts "xi-api-key: <key>"
    in the client's headers. Voices are ElevenLabs voice ids; `voice_names` labels some for the UI."""

    name = "elevenlabs"

    def __init__(
        self,
        client: ProviderClient,
        *,
        model_id: str = DEFAULT_MODEL,
        ffmpeg_bin: str = "ffmpeg",
        voice_names: list[tuple[str, str]] | None = None,
    ) -> None:
        self.client = client
        self.model_id = model_id
        self.ffmpeg_bin = ffmpeg_bin
        self.voice_names = list(voice_names or [])

    def voices(self) -> list[tuple[str, str]]:
        return list(self.voice_names)

    def words_per_second(self, voice: str) -> float:
        return 2.5  # ElevenLabs' stock voices read about 150 words a minute

    def synthesize(self, text: str, *, voice: str, out: Path, cancel: CancelToken | None = None) -> Speech:
        text = text.strip()
        if not text:
            raise no_text()

        def read(response: httpx.Response) -> float:
            raw = scratch_path(out, ".mp3")
            try:
                raw.write_bytes(response.content)
                return decode_to_wav(raw, out, formats="mp3", ffmpeg_bin=self.ffmpeg_bin, cancel=cancel)
            except NotAudio as exc:
                raise self.client.unreadable("tts", response, f"not MP3 audio: {exc.detail}") from None
            finally:
                raw.unlink(missing_ok=True)

        duration = self.client.fetch(
            "POST",
            f"v1/text-to-speech/{quote(voice, safe='')}",
            operation="tts",
            read=read,
            params={"output_format": OUTPUT_FORMAT},
            json={"text": text, "model_id": self.model_id},
            headers={"Accept": "audio/mpeg"},
            cancel=cancel,
        )
        return Speech(path=out, duration=duration, provider=self.name, voice=voice)


def parse_voices(text: str) -> list[tuple[str, str]]:
    """ELEVENLABS_VOICES ("Name=voice_id,Name=voice_id") as (voice_id, name) pairs; entries without "=" are
    skipped."""
    pairs = [p.split("=", 1) for p in text.split(",") if "=" in p]
    return [(voice_id.strip(), name.strip()) for name, voice_id in pairs]


def _build(conf: Conf, calls: Calls) -> ElevenLabsEngine:
    client = calls.client(
        SERVICE,
        base_url=conf["ELEVENLABS_BASE_URL"],
        api_key=conf["ELEVENLABS_API_KEY"],
        timeout=conf["PROVIDER_TIMEOUT"],
    )
    return ElevenLabsEngine(
        client,
        model_id=conf["TTS_MODEL"] or DEFAULT_MODEL,
        ffmpeg_bin=conf["FFMPEG_BIN"],
        voice_names=parse_voices(conf["ELEVENLABS_VOICES"]),
    )


PROVIDER = ProviderSpec(
    name="elevenlabs",
    label="ElevenLabs",
    settings={
        "ELEVENLABS_BASE_URL": "https://api.elevenlabs.io",
        "ELEVENLABS_API_KEY": "",
        "ELEVENLABS_VOICES": "Rachel=21m00Tcm4TlvDq8ikWAM,Adam=pNInz6obpgDQGcFmaJgB",
        "TTS_MODEL": DEFAULT_MODEL,
        "PROVIDER_TIMEOUT": 60.0,
        "FFMPEG_BIN": "ffmpeg",
    },
    make=_build,
    list_voices=lambda conf: parse_voices(conf["ELEVENLABS_VOICES"]),
)
