"""Speech for the commentary: one interface (`base.SpeechEngine`), one file per engine, each ending with its
`PROVIDER` spec (see `providers.registry`). A new engine is a copy of a sibling file plus one line below."""

from __future__ import annotations

from ..providers.registry import ProviderSpec, pick
from . import elevenlabs, espeak, openai
from .base import Speech, SpeechEngine
from .elevenlabs import ElevenLabsEngine
from .espeak import EspeakEngine
from .openai import OpenAISpeech

__all__ = [
    "SPEECH_PROVIDERS",
    "ElevenLabsEngine",
    "EspeakEngine",
    "OpenAISpeech",
    "Speech",
    "SpeechEngine",
    "speech_provider",
]

# TTS_PROVIDER names one of these; the first is the default.
SPEECH_PROVIDERS: dict[str, ProviderSpec[SpeechEngine]] = {
    spec.name: spec for spec in (espeak.PROVIDER, elevenlabs.PROVIDER, openai.PROVIDER)
}


def speech_provider(name: str) -> ProviderSpec[SpeechEngine]:
    """The speech provider called `name`; ValueError for one there is not."""
    return pick(SPEECH_PROVIDERS, name, "TTS")
