"""Chat models for ideas and commentary: one interface (`base.ChatModel`), one file per API, each ending with
its `PROVIDER` spec (see `providers.registry`). A new API is a copy of a sibling file plus one line below."""

from __future__ import annotations

from ..providers.registry import ProviderSpec, pick
from . import gemini, ollama, openai
from .base import ChatModel, ChatReply, estimate_tokens
from .gemini import GeminiChat
from .ollama import OllamaChat
from .openai import OpenAIChat
from .prompting import parse_json

__all__ = [
    "CHAT_PROVIDERS",
    "ChatModel",
    "ChatReply",
    "GeminiChat",
    "OllamaChat",
    "OpenAIChat",
    "chat_provider",
    "estimate_tokens",
    "parse_json",
]

# LLM_PROVIDER names one of these, or "offline" for the writers that need no model.
CHAT_PROVIDERS: dict[str, ProviderSpec[ChatModel]] = {
    spec.name: spec for spec in (openai.PROVIDER, gemini.PROVIDER, ollama.PROVIDER)
}


def chat_provider(name: str) -> ProviderSpec[ChatModel]:
    """The chat provider called `name`; ValueError for one there is not."""
    return pick(CHAT_PROVIDERS, name, "LLM")
