"""How a provider file says what it is, so the rest of the product can pick it from a registry.

Every provider file (`tts/espeak.py`, `llm/gemini.py`, …) ends with one `PROVIDER = ProviderSpec(...)`: its
name, its label, the settings it reads (with their defaults) and how it is built from them. Each kind of
provider keeps a registry of those (`tts.SPEECH_PROVIDERS`, `llm.CHAT_PROVIDERS`), the way healthchecks keeps
its TRANSPORTS: the settings check, the upload form's voices and the job's providers all read the registry,
so adding a provider is copying a sibling file and adding one line to its kind's registry.

No Django here: a spec reads whatever settings object it is handed (django.conf.settings, a namespace or a
plain dict), and only the names it declared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from .http import CallRecord, ProviderClient, RetryPolicy, pooled_client
from .ratelimit import RateLimiter, Slots

T = TypeVar("T")
# A spec only hands out what it makes, so a ProviderSpec[EspeakEngine] is a ProviderSpec[SpeechEngine].
T_co = TypeVar("T_co", covariant=True)
Conf = Mapping[str, Any]  # the declared settings of one provider, read from the caller's settings


@dataclass(frozen=True)
class Service:
    """Who a networked provider talks to: `label` names it in the sentences a user sees ("The speech service
    (ElevenLabs)"), `key_setting` is the setting to check when the key is refused, `key_header` carries the
    key ("Authorization" sends "Bearer <key>")."""

    scope: str  # "tts" or "llm": pools of different kinds never mix
    name: str
    label: str
    key_setting: str
    key_header: str = "Authorization"

    def headers(self, api_key: str) -> dict[str, str]:
        if not api_key:
            return {}  # local servers need no key
        if self.key_header == "Authorization":
            return {"Authorization": f"Bearer {api_key}"}
        return {self.key_header: api_key}


@dataclass(frozen=True)
class Calls:
    """What the caller adds to a provider's HTTP calls: retries, the rate limit and slots it shares with other
    workers, who records each call; `transport` and `max_connections` shape the shared pool (tests)."""

    retry: RetryPolicy = RetryPolicy()
    limiter: RateLimiter | None = None
    slots: Slots | None = None
    on_call: Callable[[CallRecord], None] | None = None
    transport: httpx.BaseTransport | None = None
    max_connections: int = 10

    def client(self, service: Service, *, base_url: str, api_key: str, timeout: float) -> ProviderClient:
        """The process's pooled client for this service, URL and key, with this caller's limits and records."""
        pooled = pooled_client(
            scope=service.scope,
            name=service.name,
            base_url=base_url,
            api_key=api_key,
            headers=service.headers(api_key),
            timeout=timeout,
            transport=self.transport,
            max_connections=self.max_connections,
            label=service.label,
            key_setting=service.key_setting,
        )
        return pooled.bind(on_call=self.on_call, limiter=self.limiter, slots=self.slots, retry=self.retry)


def _no_voices(conf: Conf) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class ProviderSpec(Generic[T_co]):
    """One provider of one kind. `make(conf, calls)` builds it from its own settings (`conf` holds exactly
    the names in `settings`); `list_voices(conf)` gives (value, label) pairs for a form (speech only)."""

    name: str  # the value of the kind's setting (TTS_PROVIDER=..., LLM_PROVIDER=...)
    label: str  # what people call it ("ElevenLabs")
    settings: Mapping[str, Any]  # setting name -> the default used when the settings object lacks it
    make: Callable[[Conf, Calls], T_co]
    list_voices: Callable[[Conf], list[tuple[str, str]]] = field(default=_no_voices)

    def read(self, source: Any) -> dict[str, Any]:
        """This provider's settings from `source`: an object with attributes or a mapping."""
        if isinstance(source, Mapping):
            return {name: source.get(name, default) for name, default in self.settings.items()}
        return {name: getattr(source, name, default) for name, default in self.settings.items()}

    def build(self, source: Any, calls: Calls | None = None) -> T_co:
        return self.make(self.read(source), calls or Calls())

    def voices(self, source: Any) -> list[tuple[str, str]]:
        return self.list_voices(self.read(source))


def pick(registry: Mapping[str, ProviderSpec[T]], name: str, kind: str) -> ProviderSpec[T]:
    """`registry[name]`, or a ValueError that lists what there is ("unknown TTS provider 'polly'; …")."""
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} provider {name!r}; expected one of {sorted(registry)}") from None
