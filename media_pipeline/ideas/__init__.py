"""Content ideas (reels, carousels, tweets) and the pieces for them, from a transcript: offline or via an LLM.

No Django here: the job engine passes segments, a `Style`, a chat model (or None) and callbacks.
"""

from __future__ import annotations

from .generate import GenerationResult, PieceResult, ResultCache, generate_ideas_and_pieces, regenerate_piece
from .llm import PROMPT_VERSION, IdeasUnavailable, PieceOutcome, llm_ideas, llm_piece
from .offline import offline_ideas, offline_piece
from .schema import KINDS, Idea, validate_idea, validate_piece
from .styles import PRESET_LABELS, PRESETS, Style, preset_choices

__all__ = [
    "KINDS",
    "PRESETS",
    "PRESET_LABELS",
    "PROMPT_VERSION",
    "GenerationResult",
    "Idea",
    "IdeasUnavailable",
    "PieceOutcome",
    "PieceResult",
    "ResultCache",
    "Style",
    "generate_ideas_and_pieces",
    "llm_ideas",
    "llm_piece",
    "offline_ideas",
    "offline_piece",
    "preset_choices",
    "regenerate_piece",
    "validate_idea",
    "validate_piece",
]
