"""What every chat model offers, and the fallback rule they share."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..process import CancelToken
from ..providers.http import ProviderError

log = logging.getLogger(__name__)

# Errors where another model could do better. A refused key or our own full queue would fail the same way.
NO_FALLBACK_KINDS = frozenset({"auth", "busy", "connection"})


@dataclass
class ChatReply:
    text: str
    model: str  # the model that answered (the fallback's name when it did)
    provider: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatModel(Protocol):
    provider: str
    model: str

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
        """One answer. With `schema` (a JSON Schema whose "title" names it) the provider is asked for output
        in that shape (structured output); without it, `json_mode` asks for any JSON object."""
        ...


def estimate_tokens(text: str) -> int:
    """About four characters a token for English: good enough to pace a tokens-per-minute limit."""
    return max(1, math.ceil(len(text) / 4))


def with_fallback(model: str, fallback_model: str | None, call: Callable[[str], ChatReply]) -> ChatReply:
    """`call(model)`; when it fails with a ProviderError another model might not hit (after its retries, a
    404 for an unknown model, an unreadable or blocked answer) and a fallback is set, `call(fallback)` once."""
    try:
        return call(model)
    except ProviderError as exc:
        if not fallback_model or fallback_model == model or exc.kind in NO_FALLBACK_KINDS:
            raise
        log.warning("model %s failed (%s, HTTP %s); trying fallback %s", model, exc.kind, exc.status, fallback_model)
        return call(fallback_model)


def schema_name(schema: dict[str, Any]) -> str:
    """A name for a schema that every provider accepts (letters, digits, _ and -)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "answer"))[:64] or "answer"


def without_titles(schema: Any) -> Any:
    """The schema without "title" keywords (a name for OpenAI; other providers need none)."""
    if isinstance(schema, dict):
        return {k: without_titles(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [without_titles(v) for v in schema]
    return schema
