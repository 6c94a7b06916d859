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

COMMENTARY_KEYS = ("voice", "commentary_style", "original_level")
IDEAS_KEYS = ("style", "idea_count", "custom_style")


def _default_level() -> float:
    return float(settings.COMMENTARY_DEFAULT_LEVEL)


@dataclass(frozen=True)
class JobOptions:
    interval: int = 30  # seconds per chunk (the forms allow 10–120)
    transcribe: bool = True
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
    reel_framing: str = "blur"
    force: bool = False  # process again even if the same work was done (and bypass the result cache)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> JobOptions:
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in (params or {}).items() if k in known and v is not None}
        return cls(**given)

    @property
    def duck(self) -> float:
        """The original's linear gain under the voice (0–1)."""
        return max(0.0, min(1.0, float(self.original_level) / 100))

    def as_params(self) -> dict[str, Any]:
        """The stored form: what a feature that is off does not use is left out, and so is force=False."""
        params = asdict(self)
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
        if self.reel_framing == "blur":
            params.pop("reel_framing")
        if not self.force:
            params.pop("force")
        return params

    def work_key(self) -> dict[str, Any]:
        """What makes two tasks of the same source the same work: every option but `force`."""
        return {k: v for k, v in self.as_params().items() if k != "force"}
