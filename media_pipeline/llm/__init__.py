"""Chat models for ideas and commentary: one interface (`base.ChatModel`), one file per API."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ..providers.http import CallRecord, RetryPolicy, pooled_client
from ..providers.ratelimit import RateLimiter, Slots
from .base import ChatModel, ChatReply, estimate_tokens, extract_json
from .gemini import GeminiChat
from .openai import OpenAIChat

__all__ = ["ChatModel", "ChatReply", "GeminiChat", "OpenAIChat", "estimate_tokens", "extract_json", "make_chat_model"]

LABELS = {"openai": "The language model service", "gemini": "The language model service (Gemini)"}
KEY_SETTINGS = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}


def make_chat_model(
    kind: str,
    *,
    base_url: str,
    api_key: str,
    model: str,
    fallback_model: str | None = None,
    timeout: float = 60.0,
    retry: RetryPolicy = RetryPolicy(),
    limiter: RateLimiter | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
    slots: Slots | None = None,
    transport: httpx.BaseTransport | None = None,
    max_connections: int = 10,
) -> ChatModel:
    """A chat model of `kind` ("openai": any OpenAI-compatible API; "gemini"). The connection pool is shared
    per (kind, URL, key, timeout) in this process; `on_call`, `limiter` and `slots` are this caller's own."""
    if kind not in LABELS:
        raise ValueError(f"unknown LLM provider {kind!r}; expected one of {sorted(LABELS)}")
    headers: dict[str, str] = {}
    if api_key and kind == "openai":
        headers["Authorization"] = f"Bearer {api_key}"
    elif api_key:
        headers["x-goog-api-key"] = api_key
    label = LABELS[kind]
    if kind == "openai" and "api.openai.com" in base_url:
        label = "The language model service (OpenAI)"
    client = pooled_client(
        scope="llm",
        name=kind,
        base_url=base_url,
        api_key=api_key,
        headers=headers,
        timeout=timeout,
        transport=transport,
        max_connections=max_connections,
        label=label,
        key_setting=KEY_SETTINGS[kind],
    ).bind(on_call=on_call, limiter=limiter, slots=slots, retry=retry)
    if kind == "openai":
        return OpenAIChat(client, model=model, fallback_model=fallback_model)
    return GeminiChat(client, model=model, fallback_model=fallback_model)
