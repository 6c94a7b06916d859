"""Who the pieces are written for: a preset (e-commerce, educator, podcast, gaming) or a custom style.

A `Style` is plain data. The LLM prompts quote it; the offline generator uses its call to action,
audience and a few preset phrases; `key()` goes into cache keys so a changed style never reuses old output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

CUSTOM = "custom"

# Field limits: the values end up in prompts and on posts, so they stay short.
FIELD_LIMITS = {"audience": 200, "call_to_action": 120, "goal": 200, "language": 35, "tone": 120, "extra": 600}

# Field names older clients send for a custom style.
FIELD_ALIASES = {
    "target_audience": "audience",
    "content_goal": "goal",
    "additional_instructions": "extra",
}


@dataclass(frozen=True)
class Style:
    preset: str
    audience: str
    call_to_action: str
    goal: str
    language: str = "en"
    tone: str = ""
    extra: str = ""

    def key(self) -> str:
        """Stable text for cache keys: every field, sorted, so equal styles give equal keys."""
        return json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def label(self) -> str:
        return PRESET_LABELS.get(self.preset, "Custom style")

    @property
    def hashtag(self) -> str:
        """The one hashtag every piece in this style may carry ('' for a custom style)."""
        return PRESET_HASHTAGS.get(self.preset, "")

    def describe(self) -> str:
        """The style as short lines for a prompt."""
        lines = [
            f"Audience: {self.audience}",
            f"Goal: {self.goal}",
            f"Call to action: {self.call_to_action}",
            f"Language: {self.language}",
        ]
        if self.tone:
            lines.append(f"Tone: {self.tone}")
        if self.extra:
            lines.append(f"Additional guidance: {self.extra}")
        return "\n".join(lines)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Style:
        """Build a style from form or job params.

        `{"preset": "educator"}` gives the preset; non-empty fields next to it override the preset's
        (a shop may keep the e-commerce voice with its own call to action). `{"preset": "custom", ...}`
        needs at least an audience and a call to action. Raises ValueError with a sentence for the user.
        """
        params = dict(params or {})
        name = str(params.get("preset") or "").strip().lower().replace("-", "_").replace(" ", "_")
        name = ALIASES.get(name, name)
        if not name:
            name = DEFAULT_PRESET
        for old_name, field_name in FIELD_ALIASES.items():
            if params.get(field_name) in (None, "") and old_name in params:
                params[field_name] = params[old_name]
        fields: dict[str, str] = {}
        for field_name, limit in FIELD_LIMITS.items():
            value = params.get(field_name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"The style's {field_name.replace('_', ' ')} must be text.")
            value = " ".join(value.split())
            if len(value) > limit:
                raise ValueError(
                    f"The style's {field_name.replace('_', ' ')} is {len(value)} characters; the limit is {limit}."
                )
            if value:
                fields[field_name] = value
        if name == CUSTOM:
            missing = [f.replace("_", " ") for f in ("audience", "call_to_action") if f not in fields]
            if missing:
                raise ValueError(f"A custom style needs {' and '.join(missing)}; fill them in or pick a preset.")
            fields.setdefault("goal", "engagement and education")
            return cls(preset=CUSTOM, **fields)
        if name not in PRESETS:
            known = ", ".join(sorted(PRESETS))
            raise ValueError(f"There is no style preset called {name!r}; choose one of {known}, or custom.")
        return replace(PRESETS[name], **fields) if fields else PRESETS[name]


PRESETS: dict[str, Style] = {
    "ecommerce": Style(
        preset="ecommerce",
        audience="e-commerce entrepreneurs and online store owners",
        call_to_action="Follow for more store-growth tips.",
        goal="practical tactics that grow sales",
        tone="direct, practical, results-first",
    ),
    "educator": Style(
        preset="educator",
        audience="learners who want a clear explanation",
        call_to_action="Save this and share it with a classmate.",
        goal="teach one idea clearly, step by step",
        tone="clear, patient, encouraging",
    ),
    "podcast": Style(
        preset="podcast",
        audience="podcast listeners who enjoy a good conversation",
        call_to_action="Listen to the full episode.",
        goal="turn the best moments into reasons to listen",
        tone="conversational, curious, warm",
    ),
    "gaming": Style(
        preset="gaming",
        audience="gaming and sports fans",
        call_to_action="Follow for more highlights.",
        goal="share the most exciting plays and hot takes",
        tone="energetic, punchy, playful",
    ),
}

DEFAULT_PRESET = "educator"

PRESET_LABELS: dict[str, str] = {
    "ecommerce": "E-commerce entrepreneur",
    "educator": "Educator",
    "podcast": "Podcast host",
    "gaming": "Gaming / sports",
    CUSTOM: "Custom style",
}

PRESET_HASHTAGS: dict[str, str] = {
    "ecommerce": "#ecommerce",
    "educator": "#learning",
    "podcast": "#podcast",
    "gaming": "#gaming",
}

# Names other parts of the product (or older clients) have used for the same presets.
ALIASES: dict[str, str] = {
    "ecommerce_entrepreneur": "ecommerce",
    "e_commerce": "ecommerce",
    "teacher": "educator",
    "podcast_host": "podcast",
    "gaming_sports": "gaming",
    "sports": "gaming",
}


def preset_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a form's select, presets first, custom last."""
    return [(name, PRESET_LABELS[name]) for name in PRESETS] + [(CUSTOM, PRESET_LABELS[CUSTOM])]
