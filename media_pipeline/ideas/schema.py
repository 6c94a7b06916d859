"""The shapes of ideas and pieces, their limits, and validation that explains itself.

Validation normalises what is harmless (whitespace, a missing '#', numbers sent as strings, "1:05" times,
a few field names models like to use) and reports everything else as sentences such as
"hook is 63 characters; the limit is 50". Those sentences go back to the model in the repair prompt,
so they name the field exactly as the JSON does.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("reel", "image_carousel", "tweet")

TITLE_MAX = 80
SNIPPET_MAX = 1200
REASON_MAX = 300
HOOK_MAX = 50
CAPTION_MAX = 250
SCRIPT_MAX = 3000
VISUALS_MAX = 8
VISUAL_MAX = 200
SLIDES_MIN = 4
SLIDES_MAX = 6
SLIDE_HEADING_MAX = 80
SLIDE_TEXT_MAX = 200
TWEET_MAX = 240
THREAD_TWEET_MAX = 280
THREAD_MAX = 8
HASHTAGS_MAX = 10
HASHTAG_MAX = 40
UNLIMITED = 10**9  # for fields we shorten ourselves instead of rejecting
REEL_MIN_S = 5.0
REEL_MAX_S = 90.0
# A model may round the end of the video up a little; within this much we clamp instead of complaining.
END_SLACK_S = 1.0

_KIND_ALIASES = {
    "reel": "reel",
    "reels": "reel",
    "short": "reel",
    "video": "reel",
    "clip": "reel",
    "image_carousel": "image_carousel",
    "carousel": "image_carousel",
    "imagecarousel": "image_carousel",
    "tweet": "tweet",
    "tweets": "tweet",
    "thread": "tweet",
    "twitter": "tweet",
    "x_post": "tweet",
}
# Control characters (not format characters: a zero-width joiner holds emoji sequences together).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HASHTAG_RE = re.compile(r"^\w+$")
_TIME_RE = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class Idea:
    kind: str
    title: str
    snippet: str
    start: float
    end: float
    reason: str = ""
    # Position in the run's list (0-based), set by the generator; the job keys its rows by it.
    index: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def length(self) -> float:
        return self.end - self.start


def clean_text(value: str) -> str:
    """Collapse whitespace and drop control characters (a NUL in a caption breaks renderers and databases)."""
    return " ".join(_CONTROL_RE.sub(" ", value).split())


def normalise_kind(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    return _KIND_ALIASES.get(key)


def _first(d: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in d and d[name] is not None:
            return d[name]
    return None


def _text(
    d: dict[str, Any],
    names: tuple[str, ...],
    errors: list[str],
    *,
    label: str,
    limit: int,
    required: bool = True,
    default: str = "",
) -> str:
    value = _first(d, *names)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required and not default:
            within = f" of at most {limit} characters" if limit < UNLIMITED else ""
            errors.append(f"{label} is missing; it must be non-empty text{within}")
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.append(f"{label} must be text, not {type(value).__name__}")
        return ""
    value = clean_text(value)
    if len(value) > limit:
        errors.append(f"{label} is {len(value)} characters; the limit is {limit}")
    return value


def _seconds(value: Any, label: str, errors: list[str]) -> float | None:
    if isinstance(value, bool) or value is None:
        errors.append(f"{label} is missing; it must be a number of seconds")
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("s").strip()
        match = _TIME_RE.match(text)
        if match:
            hours = float(match.group(1) or 0)
            return hours * 3600 + float(match.group(2)) * 60 + float(match.group(3))
        try:
            value = float(text)
        except ValueError:
            errors.append(f"{label} is {value!r}; it must be a number of seconds")
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        errors.append(f"{label} must be a number of seconds")
        return None
    return round(float(value), 3)


def _range(start_value: Any, end_value: Any, errors: list[str], *, duration: float, reel: bool) -> tuple[float, float]:
    start = _seconds(start_value, "start", errors)
    end = _seconds(end_value, "end", errors)
    if start is None or end is None:
        return start or 0.0, end or 0.0
    if start < 0:
        errors.append(f"start is {start:g}; it must be 0 or more")
    if duration < end <= duration + END_SLACK_S:
        end = round(duration, 3)
    if end > duration:
        errors.append(f"end is {end:g} s, after the end of the video ({duration:g} s)")
    if end <= start:
        errors.append(f"end ({end:g}) must be after start ({start:g})")
    elif reel and not (REEL_MIN_S <= end - start <= REEL_MAX_S):
        errors.append(
            f"the reel is {end - start:.1f} s long (start {start:g}, end {end:g}); "
            f"a reel must be {REEL_MIN_S:g} to {REEL_MAX_S:g} s"
        )
    return start, end


def normalise_hashtags(value: Any, errors: list[str], *, label: str = "hashtags") -> list[str]:
    """'#Tag', 'tag', ' #two words ' → '#Tag', '#tag', '#twowords'; duplicates dropped; at most HASHTAGS_MAX kept."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        errors.append(f'{label} must be a list of words such as ["#marketing"]')
        return []
    tags: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(value):
        if not isinstance(raw, str):
            errors.append(f"{label}[{i}] must be text")
            continue
        word = "".join(clean_text(raw).lstrip("#").split())
        if not word:
            continue
        if not _HASHTAG_RE.match(word):
            errors.append(f"{label}[{i}] ({raw!r}) must be one word of letters, digits or _ such as #marketing")
            continue
        if len(word) + 1 > HASHTAG_MAX:
            errors.append(f"{label}[{i}] is {len(word) + 1} characters; the limit is {HASHTAG_MAX}")
            continue
        if word.lower() in seen:
            continue
        seen.add(word.lower())
        tags.append("#" + word)
    return tags[:HASHTAGS_MAX]


def validate_idea(d: Any, *, duration: float) -> tuple[Idea | None, list[str]]:
    """Check one idea from a model (or a cache); returns (Idea, []) or (None, [sentences])."""
    errors: list[str] = []
    if not isinstance(d, dict):
        return None, ["the idea must be a JSON object"]
    raw_kind = _first(d, "kind", "type", "content_type", "suggested_content_type")
    kind = normalise_kind(raw_kind)
    if kind is None:
        errors.append(f"kind is {raw_kind!r}; it must be one of {', '.join(KINDS)}")
    title = _text(d, ("title", "suggested_title"), errors, label="title", limit=TITLE_MAX)
    snippet = _text(d, ("snippet", "relevant_transcript_snippet", "quote"), errors, label="snippet", limit=UNLIMITED)
    snippet = shorten(snippet, SNIPPET_MAX)
    reason = shorten(_text(d, ("reason", "why"), errors, label="reason", limit=UNLIMITED, required=False), REASON_MAX)
    start, end = _range(d.get("start"), d.get("end"), errors, duration=duration, reel=kind == "reel")
    if errors:
        return None, errors
    assert kind is not None
    index = d.get("index")
    index = index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else 0
    return Idea(kind=kind, title=title, snippet=snippet, start=start, end=end, reason=reason, index=index), []


def _string_list(
    value: Any, errors: list[str], *, label: str, item_limit: int, max_items: int, truncate_items: bool
) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        errors.append(f"{label} must be a list of text")
        return []
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            errors.append(f"{label}[{i}] must be text")
            continue
        item = clean_text(item)
        if not item:
            continue
        if len(item) > item_limit:
            if truncate_items:
                item = shorten(item, item_limit)
            else:
                errors.append(f"{label}[{i}] is {len(item)} characters; the limit is {item_limit}")
        out.append(item)
    if len(out) > max_items:
        if truncate_items:
            out = out[:max_items]
        else:
            errors.append(f"{label} has {len(out)} items; the limit is {max_items}")
    return out


def validate_piece(kind: str, d: Any, *, idea: Idea, duration: float) -> tuple[dict[str, Any] | None, list[str]]:
    """Check a piece of `kind` made for `idea`; returns (normalised dict, []) or (None, [sentences]).

    Every valid piece carries kind, title, hashtags and the source range (start, end), so a page can
    link any piece back to the moment in the video it came from.
    """
    errors: list[str] = []
    kind = normalise_kind(kind) or kind
    if kind not in KINDS:
        return None, [f"kind is {kind!r}; it must be one of {', '.join(KINDS)}"]
    if not isinstance(d, dict):
        return None, [f"the {kind} must be a JSON object"]
    if kind == "image_carousel" and isinstance(d.get("carousel"), dict):
        d = d["carousel"]
    title = _text(d, ("title",), errors, label="title", limit=TITLE_MAX, default=idea.title)
    hashtags = normalise_hashtags(d.get("hashtags"), errors)
    piece: dict[str, Any] = {"kind": kind, "title": title}
    if kind == "reel":
        piece["hook"] = _text(d, ("hook",), errors, label="hook", limit=HOOK_MAX)
        piece["caption"] = _text(d, ("caption",), errors, label="caption", limit=CAPTION_MAX)
        piece["script"] = _text(d, ("script", "script_body", "body"), errors, label="script", limit=SCRIPT_MAX)
        piece["visual_suggestions"] = _string_list(
            _first(d, "visual_suggestions", "visuals"),
            errors,
            label="visual_suggestions",
            item_limit=VISUAL_MAX,
            max_items=VISUALS_MAX,
            truncate_items=True,
        )
        # A reel may move its range (the model can tighten it), so it is checked again; other kinds keep the idea's.
        start, end = _range(
            idea.start if d.get("start") is None else d["start"],
            idea.end if d.get("end") is None else d["end"],
            errors,
            duration=duration,
            reel=True,
        )
    elif kind == "image_carousel":
        piece["caption"] = _text(d, ("caption",), errors, label="caption", limit=CAPTION_MAX)
        piece["slides"] = _slides(d.get("slides"), errors)
        start, end = idea.start, idea.end
    else:
        piece["tweet"] = _text(d, ("tweet", "tweet_text", "text"), errors, label="tweet", limit=TWEET_MAX)
        piece["thread"] = _string_list(
            _first(d, "thread", "thread_continuation"),
            errors,
            label="thread",
            item_limit=THREAD_TWEET_MAX,
            max_items=THREAD_MAX,
            truncate_items=False,
        )
        start, end = idea.start, idea.end
    piece["hashtags"] = hashtags
    piece["start"], piece["end"] = start, end
    if errors:
        return None, errors
    return piece, []


def _slides(value: Any, errors: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        errors.append(f"slides must be a list of {SLIDES_MIN} to {SLIDES_MAX} objects with heading and text")
        return []
    if not SLIDES_MIN <= len(value) <= SLIDES_MAX:
        errors.append(f"there are {len(value)} slides; a carousel needs {SLIDES_MIN} to {SLIDES_MAX}")
    slides: list[dict[str, Any]] = []
    for i, raw in enumerate(value):
        label = f"slides[{i}]"
        if not isinstance(raw, dict):
            errors.append(f"{label} must be an object with heading and text")
            continue
        heading = _text(
            raw, ("heading", "step_heading", "title"), errors, label=f"{label}.heading", limit=SLIDE_HEADING_MAX
        )
        text = _text(raw, ("text", "body"), errors, label=f"{label}.text", limit=SLIDE_TEXT_MAX)
        # Numbering is ours: models skip or repeat numbers, and the order of the list is what matters.
        slides.append({"slide_number": len(slides) + 1, "heading": heading, "text": text})
    return slides


def shorten(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut `text` to at most `limit` characters at a word boundary, marking the cut with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    if room <= 0:
        return text[:limit]
    cut = text[: room + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space >= room // 2 else text[:room]
    return cut.rstrip(" ,;:-—–.") + ellipsis


# --- JSON Schemas for structured output ---------------------------------------------------------------------
# Sent with every request (OpenAI `response_format: json_schema`, Gemini `responseJsonSchema`, Ollama `format`)
# so the model's decoder is held to the shape and fewer answers need the repair round. They describe the shape
# only: the limits (characters, slide counts, ranges) stay in the prompt and in `validate_*`, since providers
# differ in which keywords they accept. Every object lists all its properties as required and allows no others,
# which OpenAI's strict mode demands and the others accept.


def _object(name: str | None = None, /, **properties: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if name:
        out["title"] = name  # the schema's name for OpenAI (base.schema_name); the others get it without
    return out


def _string(description: str = "") -> dict[str, Any]:
    return {"type": "string", "description": description} if description else {"type": "string"}


def _strings(description: str = "") -> dict[str, Any]:
    return {"type": "array", "items": _string(description)}


_SECONDS = {"type": "number", "description": "seconds from the start of the video"}


def output_schema(what: str) -> dict[str, Any]:
    """The JSON Schema of an answer: "ideas", or a piece kind ("reel", "image_carousel", "tweet")."""
    if what == "ideas":
        idea = _object(
            kind={"type": "string", "enum": list(KINDS)},
            title=_string("a headline in your own words"),
            snippet=_string("the transcript text, quoted"),
            start=_SECONDS,
            end=_SECONDS,
            reason=_string("one sentence"),
        )
        return _object("ideas", ideas={"type": "array", "items": idea})
    if what == "reel":
        return _object(
            "reel",
            title=_string("a headline in your own words"),
            hook=_string(),
            caption=_string(),
            script=_string(),
            visual_suggestions=_strings(),
            hashtags=_strings("#word"),
            start=_SECONDS,
            end=_SECONDS,
        )
    if what == "image_carousel":
        slide = _object(slide_number={"type": "integer"}, heading=_string(), text=_string("complete sentences"))
        return _object(
            "image_carousel",
            title=_string("a headline in your own words"),
            caption=_string(),
            slides={"type": "array", "items": slide},
            hashtags=_strings("#word"),
        )
    if what == "tweet":
        return _object(
            "tweet",
            title=_string("a headline in your own words"),
            tweet=_string(),
            thread=_strings(),
            hashtags=_strings("#word"),
        )
    raise ValueError(f"no schema for {what!r}")
