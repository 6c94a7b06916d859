"""What a "make a video" request is, typed and checked with sentences: the page, the API and `manage.py
generate` all build one, and the job reads it back from the task's params."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .clip import ASPECTS

MAX_SCRIPT_CHARS = 20_000
MAX_PROMPT_CHARS = 2_000
MIN_LENGTH, MAX_LENGTH = 10, 300  # target seconds a prompt or recap asks for
VISUALS = ("cards", "generated")  # title cards, or clips from the video-generation provider


class InvalidRequest(ValueError):
    """A request that cannot be made; `errors` maps each field to its sentences."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(" ".join(m for ms in errors.values() for m in ms))


@dataclass(frozen=True)
class GenerateRequest:
    script: str = ""
    prompt: str = ""
    from_task: str = ""  # the id of a task whose recap to narrate
    title: str = ""
    aspect: str = "9:16"
    voice: str = ""  # empty: the speech provider's first voice
    captions: bool = True
    length: int = 45  # target seconds for a prompt or a recap (a pasted script is as long as it is)
    visuals: str = "cards"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> GenerateRequest:
        """Build and check one from JSON-like data; InvalidRequest with a sentence per bad field."""
        errors: dict[str, list[str]] = {}
        known = {f.name: f for f in fields(cls)}
        given: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known or value is None:
                continue
            default = known[key].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    if str(value).lower() in ("1", "true", "yes", "on"):
                        value = True
                    elif str(value).lower() in ("0", "false", "no", "off", ""):
                        value = False
                    else:
                        errors.setdefault(key, []).append(f"“{key}” must be true or false.")
                        continue
            elif isinstance(default, int):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    errors.setdefault(key, []).append(f"“{key}” must be a whole number of seconds.")
                    continue
            elif not isinstance(value, str):
                errors.setdefault(key, []).append(f"“{key}” must be text.")
                continue
            else:
                value = value.strip()
            given[key] = value
        if errors:
            raise InvalidRequest(errors)
        request = cls(**given)
        request.check()
        return request

    def check(self) -> None:
        errors: dict[str, list[str]] = {}

        def bad(key: str, message: str) -> None:
            errors.setdefault(key, []).append(message)

        sources = [name for name in ("script", "prompt", "from_task") if getattr(self, name)]
        if not sources:
            bad("script", "Paste a script, write a prompt, or choose one of your tasks to recap.")
        elif len(sources) > 1:
            bad(sources[1], "Give one of a script, a prompt or a task to recap, not several.")
        if len(self.script) > MAX_SCRIPT_CHARS:
            bad("script", f"The script is {len(self.script):,} characters long; the limit is {MAX_SCRIPT_CHARS:,}.")
        elif self.script and not any(ch.isalnum() for ch in self.script):
            bad("script", "The script has no words to speak.")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            bad("prompt", f"The prompt is {len(self.prompt):,} characters long; the limit is {MAX_PROMPT_CHARS:,}.")
        if self.aspect not in ASPECTS:
            bad("aspect", f"The aspect ratio must be one of {', '.join(ASPECTS)}, not “{self.aspect}”.")
        if not MIN_LENGTH <= self.length <= MAX_LENGTH:
            bad("length", f"The target length must be between {MIN_LENGTH} and {MAX_LENGTH} seconds.")
        if self.visuals not in VISUALS:
            bad("visuals", f"The visuals must be one of {', '.join(VISUALS)}, not “{self.visuals}”.")
        if len(self.title) > 200:
            bad("title", "The title is longer than 200 characters.")
        if errors:
            raise InvalidRequest(errors)

    @property
    def source(self) -> str:
        return "script" if self.script else "prompt" if self.prompt else "recap"

    def display_title(self) -> str:
        if self.title:
            return self.title
        text = " ".join((self.script or self.prompt).split())
        words = text.split()[:8]
        return (" ".join(words) + ("…" if len(text.split()) > 8 else "")) or "Recap"

    def as_params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> GenerateRequest:
        """Read back a stored request (unknown keys ignored, missing ones take their defaults); not re-checked."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (params or {}).items() if k in known and v is not None})


def parse_batch_text(text: str) -> list[dict[str, str]]:
    """Entries of a batch file, separated by blank lines: "prompt: …" is a prompt, "task: <id>" a recap of
    that task, anything else a script."""
    entries: list[dict[str, str]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        block = block.strip()
        if not block:
            continue
        lowered = block.lower()
        if lowered.startswith("prompt:"):
            entries.append({"prompt": block[7:].strip()})
        elif lowered.startswith("task:"):
            entries.append({"from_task": block[5:].strip()})
        else:
            entries.append({"script": block})
    return entries


def batch_entry(item: object, shared: dict[str, Any]) -> tuple[str, GenerateRequest | None, str]:
    """One entry of a batch (a JSON object like a single request's, or a text: a script, "prompt: …" or
    "task: <id>") with the batch's shared options under it: (a label, the request or None, why not)."""
    if isinstance(item, str):
        parsed = parse_batch_text(item)
        data: object = parsed[0] if len(parsed) == 1 else {"script": item}
    else:
        data = item
    if not isinstance(data, dict):
        return str(item)[:200], None, "Each entry must be an object like a single request, or a text."
    merged = {**shared, **data}
    label = " ".join(str(merged.get("script") or merged.get("prompt") or merged.get("from_task") or "").split())
    label = ("prompt: " if merged.get("prompt") else "task: " if merged.get("from_task") else "") + label[:120]
    try:
        return label or "(empty)", GenerateRequest.from_data(merged), ""
    except InvalidRequest as exc:
        return label or "(empty)", None, str(exc)
