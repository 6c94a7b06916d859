"""Chat through Google's Gemini API: POST models/{model}:generateContent."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from ..process import CancelToken
from ..providers.http import ProviderClient, ProviderError, UnreadableAnswer
from ..providers.registry import Calls, Conf, ProviderSpec, Service
from .base import ChatReply, estimate_tokens, with_fallback, without_titles
from .openai import _int_or_none

# finishReason values that mean Gemini withheld the answer rather than ran out of room.
BLOCKED_REASONS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})
SERVICE = Service(
    scope="llm",
    name="gemini",
    label="The language model service (Gemini)",
    key_setting="GEMINI_API_KEY",
    key_header="x-goog-api-key",
)


class GeminiChat:
    """`client.base_url` is the API root including the version (".../v1beta"); the caller puts
    "x-goog-api-key: <key>" in the client's headers (a header, so the key never lands in a URL)."""

    provider = "gemini"

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
        config: dict[str, Any] = {"maxOutputTokens": max_tokens, "temperature": temperature}
        if json_mode or schema is not None:
            config["responseMimeType"] = "application/json"
        if schema is not None:
            # JSON Schema as is (responseJsonSchema), not the OpenAPI subset `responseSchema` takes.
            config["responseJsonSchema"] = without_titles(schema)
        body = {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": [{"role": "user", "parts": [{"text": user}]}],
            "generationConfig": config,
        }
        tokens = estimate_tokens(system + user) + max_tokens

        def call(model: str) -> ChatReply:
            name = model.removeprefix("models/")
            return self.client.fetch(
                "POST",
                f"models/{quote(name, safe='')}:generateContent",
                operation=operation,
                read=lambda response: self._read(response, name, operation),
                json=body,
                tokens=tokens,
                cancel=cancel,
            )

        return with_fallback(self.model, self.fallback_model, call)

    def _blocked(self, response: httpx.Response, operation: str, reason: str) -> ProviderError:
        return ProviderError(
            f"{self.client.label} refused to answer this request (blocked: {reason}).",
            detail=f"{self.client.name} {operation}: blocked, reason {reason}",
            status=response.status_code,
            provider=self.client.name,
            kind="blocked",
        )

    def _read(self, response: httpx.Response, model: str, operation: str) -> ChatReply:
        data = response.json()
        if not isinstance(data, dict):
            raise UnreadableAnswer("the answer is not a JSON object")
        candidates = data.get("candidates") or []
        if not candidates:
            reason = (data.get("promptFeedback") or {}).get("blockReason")
            if reason:
                raise self._blocked(response, operation, str(reason))
            raise UnreadableAnswer("no candidates in the answer")
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        # Thinking models may send their thoughts as parts marked "thought"; only the answer counts.
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
        reason = candidate.get("finishReason") or ""
        if not text.strip():
            if reason in BLOCKED_REASONS:
                raise self._blocked(response, operation, reason)
            raise UnreadableAnswer(f"empty candidate (finishReason={reason!r})")
        usage = data.get("usageMetadata") or {}
        return ChatReply(
            text=text,
            model=model,
            provider=self.provider,
            prompt_tokens=_int_or_none(usage.get("promptTokenCount")),
            completion_tokens=_int_or_none(usage.get("candidatesTokenCount")),
        )


def _build(conf: Conf, calls: Calls) -> GeminiChat:
    client = calls.client(
        SERVICE, base_url=conf["GEMINI_BASE_URL"], api_key=conf["GEMINI_API_KEY"], timeout=conf["PROVIDER_TIMEOUT"]
    )
    return GeminiChat(client, model=conf["LLM_MODEL"], fallback_model=conf["LLM_FALLBACK_MODEL"])


PROVIDER = ProviderSpec(
    name="gemini",
    label="Google Gemini",
    settings={
        "GEMINI_BASE_URL": "https://generativelanguage.googleapis.com/v1beta",
        "GEMINI_API_KEY": "",
        "LLM_MODEL": "gemini-2.5-flash",
        "LLM_FALLBACK_MODEL": None,
        "PROVIDER_TIMEOUT": 60.0,
    },
    make=_build,
)
