"""What every chat model offers, and the fallback rule they share."""

from __future__ import annotations

import json
import logging
import math
import string
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
    ) -> ChatReply: ...


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


def _fenced(text: str) -> str | None:
    """What is inside a reply that is one ``` fence (with an optional language tag), or None.

    String methods, not the regex this replaced: its lazy group between two optional runs of spaces tried
    every split of a long run, cubic time on a reply of spaces."""
    stripped = text.strip()
    if len(stripped) < 6 or not (stripped.startswith("```") and stripped.endswith("```")):
        return None
    inner = stripped[3:-3]
    return inner[len(inner) - len(inner.lstrip(string.ascii_letters)) :].strip()


def extract_json(text: str) -> Any:
    """The JSON value in a model's reply: as is, inside a ``` fence, or the outermost {...} / [...] in prose
    (small local models wrap JSON even in JSON mode). Raises ValueError when there is none."""
    candidates = [text]
    fenced = _fenced(text)
    if fenced is not None:
        candidates.append(fenced)
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("no JSON value in the reply")
