"""Chat through any OpenAI-compatible API (OpenAI, Ollama, vLLM, llama.cpp server): POST chat/completions."""

from __future__ import annotations

from typing import Any

import httpx

from ..process import CancelToken
from ..providers.http import ProviderClient, ProviderError, UnreadableAnswer
from ..providers.registry import Calls, Conf, ProviderSpec, Service
from .base import ChatReply, estimate_tokens, schema_name, with_fallback, without_titles


class OpenAIChat:
    """`client.base_url` is the API root including the version (".../v1"); the caller puts
    "Authorization: Bearer <key>" in the client's headers (local servers need none)."""

    provider = "openai"

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
        json_mode = json_mode or schema is not None
        if json_mode and "json" not in (system + user).lower():
            # OpenAI refuses JSON mode (HTTP 400) unless a message mentions JSON.
            system = f"{system}\n\nAnswer with one JSON object."
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        tokens = estimate_tokens(system + user) + max_tokens

        def call(model: str) -> ChatReply:
            body: dict[str, Any] = {
                "model": model,
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
            }
            if schema is not None:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name(schema), "schema": without_titles(schema), "strict": True},
                }
            elif json_mode:
                body["response_format"] = {"type": "json_object"}

            def send(body: dict[str, Any]) -> ChatReply:
                return self.client.fetch(
                    "POST",
                    "chat/completions",
                    operation=operation,
                    read=lambda response: self._read(response, model, operation),
                    json=body,
                    tokens=tokens,
                    cancel=cancel,
                )

            try:
                return send(body)
            except ProviderError as exc:
                # A server without structured output (an older vLLM or llama.cpp) refuses the schema with a
                # 400: ask once more for plain JSON mode, which every OpenAI-compatible server has.
                if schema is None or exc.status != 400 or exc.kind == "auth":
                    raise
                return send({**body, "response_format": {"type": "json_object"}})

        return with_fallback(self.model, self.fallback_model, call)

    def _read(self, response: httpx.Response, model: str, operation: str) -> ChatReply:
        data = response.json()
        if not isinstance(data, dict) or not data.get("choices"):
            raise UnreadableAnswer("no choices in the answer")
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content")
        if choice.get("finish_reason") == "content_filter" and not text:
            raise ProviderError(
                f"{self.client.label} refused to answer this request (content filter).",
                detail=f"{self.client.name} {operation}: finish_reason=content_filter",
                status=response.status_code,
                provider=self.client.name,
                kind="blocked",
            )
        if not isinstance(text, str) or not text.strip():
            raise UnreadableAnswer(f"empty message content (finish_reason={choice.get('finish_reason')!r})")
        usage = data.get("usage") or {}
        return ChatReply(
            text=text,
            model=model,
            provider=self.provider,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
        )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _build(conf: Conf, calls: Calls) -> OpenAIChat:
    base_url = conf["OPENAI_BASE_URL"]
    # Name OpenAI itself in a user's sentence; a local server (Ollama, vLLM) is just "the service".
    label = "The language model service (OpenAI)" if "api.openai.com" in base_url else "The language model service"
    service = Service(scope="llm", name="openai", label=label, key_setting="OPENAI_API_KEY")
    client = calls.client(service, base_url=base_url, api_key=conf["OPENAI_API_KEY"], timeout=conf["PROVIDER_TIMEOUT"])
    return OpenAIChat(client, model=conf["LLM_MODEL"], fallback_model=conf["LLM_FALLBACK_MODEL"])


PROVIDER = ProviderSpec(
    name="openai",
    label="OpenAI-compatible chat (OpenAI, Ollama, vLLM, llama.cpp server)",
    settings={
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "OPENAI_API_KEY": "",
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_FALLBACK_MODEL": None,
        "PROVIDER_TIMEOUT": 60.0,
    },
    make=_build,
)
