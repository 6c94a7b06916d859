"""Speech for the commentary: one interface (`base.SpeechEngine`), one file per engine."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ..providers.http import CallRecord, ProviderClient, RetryPolicy, pooled_client
from ..providers.ratelimit import RateLimiter, Slots
from .base import Speech, SpeechEngine
from .elevenlabs import ElevenLabsEngine
from .espeak import EspeakEngine
from .openai import OpenAISpeech

__all__ = ["ElevenLabsEngine", "EspeakEngine", "OpenAISpeech", "Speech", "SpeechEngine", "make_speech_engine"]

KINDS = ("espeak", "elevenlabs", "openai")


def make_speech_engine(
    kind: str,
    *,
    client: ProviderClient | None = None,
    base_url: str = "",
    api_key: str = "",
    model: str | None = None,
    model_id: str | None = None,
    timeout: float = 60.0,
    retry: RetryPolicy = RetryPolicy(),
    limiter: RateLimiter | None = None,
    slots: Slots | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
    ffmpeg_bin: str = "ffmpeg",
    binary: str = "espeak-ng",
    rate_wpm: int = 165,
    voice_names: list[tuple[str, str]] | None = None,
    transport: httpx.BaseTransport | None = None,
    max_connections: int = 10,
) -> SpeechEngine:
    """A speech engine of `kind`. espeak uses `binary`, `rate_wpm` and `timeout`. The networked kinds use
    `client` when given (the caller's own ProviderClient, headers and all); otherwise one is built from
    `base_url` and `api_key` on a connection pool shared per (kind, URL, key, timeout) in this process, with
    this caller's own `on_call`, `limiter` and `slots` (e.g. Slots("tts", 5)). `model_id` is `model` by its
    ElevenLabs name."""
    if kind not in KINDS:
        raise ValueError(f"unknown TTS provider {kind!r}; expected one of {list(KINDS)}")
    if kind == "espeak":
        return EspeakEngine(binary=binary, ffmpeg_bin=ffmpeg_bin, rate_wpm=rate_wpm, timeout=timeout)
    model = model or model_id
    if client is None:
        client = _pooled_client(kind, base_url, api_key, timeout, transport, max_connections).bind(
            on_call=on_call, limiter=limiter, slots=slots, retry=retry
        )
    if kind == "elevenlabs":
        return ElevenLabsEngine(
            client, model_id=model or "eleven_multilingual_v2", ffmpeg_bin=ffmpeg_bin, voice_names=voice_names
        )
    return OpenAISpeech(client, model=model or "gpt-4o-mini-tts", ffmpeg_bin=ffmpeg_bin)


def _pooled_client(
    kind: str, base_url: str, api_key: str, timeout: float, transport: httpx.BaseTransport | None, max_connections: int
) -> ProviderClient:
    if kind == "elevenlabs":
        headers = {"xi-api-key": api_key} if api_key else {}
        label, key_setting = "The speech service (ElevenLabs)", "ELEVENLABS_API_KEY"
    else:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        label, key_setting = "The speech service", "OPENAI_API_KEY"
    return pooled_client(
        scope="tts",
        name=kind,
        base_url=base_url,
        api_key=api_key,
        headers=headers,
        timeout=timeout,
        transport=transport,
        max_connections=max_connections,
        label=label,
        key_setting=key_setting,
    )
