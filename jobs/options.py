"""A task's options: one dataclass with the defaults, built by the forms and the API, read as `task.options`.

`ProcessingTask.params` is how they are stored (JSON). `JobOptions.from_params` reads any stored row, old
ones included (a key that is missing takes its default here and nowhere else); `as_params` is what the forms
store: a feature that is off leaves its settings out, so two tasks that differ only in an unused setting
still count as the same work (`work_key`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.conf import settings

# What the page offers as the spoken language (Whisper's codes); "" lets speech recognition detect it.
SPEECH_LANGUAGES = {
    "": "Detect it",
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "tr": "Turkish",
    "ja": "Japanese",
    "zh": "Chinese",
}
COMMENTARY_KEYS = ("voice", "commentary_style", "original_level")
IDEAS_KEYS = ("style", "idea_count", "custom_style")
# Reels (an ideas option): framing, the aspect ratios each reel is rendered in, captions, jump cuts.
REEL_FRAMINGS = ("speaker", "blur", "crop")
REEL_ASPECTS = {"9:16": (1080, 1920), "1:1": (1080, 1080), "4:5": (1080, 1350), "16:9": (1920, 1080)}
CAPTION_PRESETS = ("pop", "karaoke", "clean")
REEL_DEFAULTS: dict[str, Any] = {
    "reel_framing": "speaker",
    "reel_aspects": ["9:16"],
    "caption_preset": "pop",
    "tight_cuts": True,
    "cut_fillers": False,
}


def _default_level() -> float:
    return float(settings.COMMENTARY_DEFAULT_LEVEL)


@dataclass(frozen=True)
class JobOptions:
    interval: int = 30  # seconds per chunk (the forms allow 10–120)
    transcribe: bool = True
    speech_language: str = ""  # SPEECH_LANGUAGES; "" detects it (the file's language tag first)
    video_id: str = ""  # a YouTube task's video
    download: bool = True  # YouTube: the video as well as its captions
    commentary: bool = False
    voice: str = "en-us"
    commentary_style: str = "play-by-play"
    original_level: float = field(default_factory=_default_level)  # % of the original under the voice
    ideas: bool = False
    style: str = "educator"
    idea_count: int = 5
    custom_style: dict[str, str] = field(default_factory=dict)
    reel_framing: str = "speaker"  # REEL_FRAMINGS
    reel_aspects: list[str] = field(default_factory=lambda: ["9:16"])  # keys of REEL_ASPECTS, in page order
    caption_preset: str = "pop"  # CAPTION_PRESETS
    tight_cuts: bool = True  # silences > 0.6 s cut out of reels as jump cuts
    cut_fillers: bool = False  # … and "um", "uh"
    force: bool = False  # process again even if the same work was done (and bypass the result cache)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> JobOptions:
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in (params or {}).items() if k in known and v is not None}
        return cls(**given)

    @property
    def reel_sizes(self) -> list[tuple[str, int, int]]:
        """(aspect, width, height) of each reel rendering asked for, 9:16 first; unknown names are skipped."""
        asked = [a for a in REEL_ASPECTS if a in (self.reel_aspects or [])]
        return [(a, *REEL_ASPECTS[a]) for a in asked or ["9:16"]]

    @property
    def duck(self) -> float:
        """The original's linear gain under the voice (0–1)."""
        return max(0.0, min(1.0, float(self.original_level) / 100))

    def as_params(self) -> dict[str, Any]:
        """The stored form: what a feature that is off does not use is left out, and so is force=False."""
        params = asdict(self)
        if not (self.transcribe and self.speech_language):
            params.pop("speech_language")
        if not self.commentary:
            for key in COMMENTARY_KEYS:
                params.pop(key)
        if not self.ideas:
            for key in IDEAS_KEYS:
                params.pop(key)
        elif self.style != "custom":
            params.pop("custom_style")
        if not self.video_id:
            params.pop("video_id")
            params.pop("download")
        # Reel settings at their defaults are left out, so tasks from before they existed count as the same.
        for key, default in REEL_DEFAULTS.items():
            if not self.ideas or params[key] == default:
                params.pop(key)
        if not self.force:
            params.pop("force")
        return params

    def work_key(self) -> dict[str, Any]:
        """What makes two tasks of the same source the same work: every option but `force`."""
        return {k: v for k, v in self.as_params().items() if k != "force"}
