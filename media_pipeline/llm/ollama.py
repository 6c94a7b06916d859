"""Chat through Ollama's own API: POST api/chat, with the answer's JSON Schema as `format` (structured output).

Ollama also serves an OpenAI-compatible /v1 (LLM_PROVIDER=openai works with it); this file uses the native
route because `format` takes a schema on every Ollama release that has structured output, and the reply
reports the token counts Ollama measured.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..process import CancelToken
from ..providers.http import ProviderClient, UnreadableAnswer
from ..providers.registry import Calls, Conf, ProviderSpec, Service
from .base import ChatReply, estimate_tokens, with_fallback, without_titles
from .openai import _int_or_none

SERVICE = Service(scope="llm", name="ollama", label="The language model service (Ollama)", key_setting="")


class OllamaChat:
    """`client.base_url` is the server's root ("http://127.0.0.1:11434"); no key is needed."""

    provider = "ollama"

    def __init__(self, client: ProviderClient, *, model: str, fallback_model: str | None = None) -> None:
        self.client = client
        self.model = model
        self.fallback_model = fallback_model

    def complete(
        self,
        *,
        system: str,
        user: str,
        json_mode: bool = True,
        max_tokens: int = 800,
        temperature: float = 0.4,
        operation: str = "llm",
        cancel: CancelToken | None = None,
        schema: dict[str, Any] | None = None,
    ) -> ChatReply:
        body: dict[str, Any] = {
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "stream": False,
            "options": {"num_predict": max_tokens, "temperature": temperature},
        }
        if schema is not None:
            body["format"] = without_titles(schema)
        elif json_mode:
            body["format"] = "json"
        tokens = estimate_tokens(system + user) + max_tokens

        def call(model: str) -> ChatReply:
            return self.client.fetch(
                "POST",
                "api/chat",
                operation=operation,
                read=lambda response: self._read(response, model),
                json={"model": model, **body},
                tokens=tokens,
                cancel=cancel,
            )

        return with_fallback(self.model, self.fallback_model, call)

    def _read(self, response: httpx.Response, model: str) -> ChatReply:
        data = response.json()
        if not isinstance(data, dict):
            raise UnreadableAnswer("the answer is not a JSON object")
        text = (data.get("message") or {}).get("content")
        if not isinstance(text, str) or not text.strip():
            raise UnreadableAnswer(f"empty message content (done_reason={data.get('done_reason')!r})")
        return ChatReply(
            text=text,
            model=model,
            provider=self.provider,
            prompt_tokens=_int_or_none(data.get("prompt_eval_count")),
            completion_tokens=_int_or_none(data.get("eval_count")),
        )


def _build(conf: Conf, calls: Calls) -> OllamaChat:
    client = calls.client(SERVICE, base_url=conf["OLLAMA_BASE_URL"], api_key="", timeout=conf["PROVIDER_TIMEOUT"])
    return OllamaChat(client, model=conf["LLM_MODEL"], fallback_model=conf["LLM_FALLBACK_MODEL"])


PROVIDER = ProviderSpec(
    name="ollama",
    label="Ollama (native API, structured output by schema)",
    settings={
        "OLLAMA_BASE_URL": "http://127.0.0.1:11434",
        "LLM_MODEL": "llama3.2",
        "LLM_FALLBACK_MODEL": None,
        "PROVIDER_TIMEOUT": 60.0,
    },
    make=_build,
)
