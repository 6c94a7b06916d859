"""The spoken commentary text for each interval: an offline templated writer and an LLM-backed one."""

from __future__ import annotations

from .budget import fit_to_budget, word_budget
from .llm import PROMPT_VERSION, llm_commentary
from .offline import CommentaryMemory, offline_commentary
from .styles import DEFAULT_STYLE, STYLES, Style, resolve_style

__all__ = [
    "DEFAULT_STYLE",
    "CommentaryMemory",
    "PROMPT_VERSION",
    "STYLES",
    "Style",
    "fit_to_budget",
    "llm_commentary",
    "offline_commentary",
    "resolve_style",
    "word_budget",
]
