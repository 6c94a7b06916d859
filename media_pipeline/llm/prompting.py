"""What every writer that prompts a model shares: data blocks the data cannot break out of, the JSON found
in a reply, and the one corrective retry.

Both writers (`commentary.llm`, `ideas.llm`) put untrusted text (transcripts, a user's style, an earlier
reply) between <tag> … </tag> markers and tell the model that what is inside is data. `defuse` keeps that
text from writing a marker of its own; `json_values` / `parse_json` read the answer whatever a small model
wraps around it; `repair_prompt` asks once more, saying what was wrong.

Every pattern here runs in linear time on any text: replies and transcripts come from outside.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

# No \s* before the group: after an unclosed fence it would try every split of the rest between \s* and .*?
# (quadratic). The group is searched for an opening bracket, so the space it keeps does not matter.
_FENCE_RE = re.compile(r"```(?:json|JSON)?(.*?)```", re.DOTALL)
_OPENERS = {"{": re.compile(r"\{"), "{[": re.compile(r"[{\[]")}


@functools.cache
def _marker_re(tags: tuple[str, ...]) -> re.Pattern[str]:
    # One \s* each side of the optional "/": "<\s*/?\s*" would try every split of a run of spaces (quadratic).
    return re.compile(r"<\s*(?:(/)\s*)?(" + "|".join(map(re.escape, tags)) + ")", re.IGNORECASE)


def defuse(text: str, tags: tuple[str, ...]) -> str:
    """`text` that cannot open or close any of our <tag> markers: "<" becomes "‹" before one of `tags`."""
    return _marker_re(tags).sub("\u2039\\1\\2", text)


def json_values(text: str, openers: str = "{[") -> Iterator[Any]:
    """Every JSON value that starts at one of `openers` ("{" or "{[") in a reply, in order: first inside each
    ``` fence, then anywhere in the whole text. Prose before or after a value does not matter."""
    opener = _OPENERS[openers]
    decoder = json.JSONDecoder()
    for candidate in [m.group(1) for m in _FENCE_RE.finditer(text)] + [text]:
        for match in opener.finditer(candidate):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except json.JSONDecodeError:
                continue
            yield value


def parse_json(text: str) -> Any:
    """The first JSON object or array in a reply: tolerates code fences and prose before or after.

    Raises ValueError with a sentence that can go back to the model.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the reply was empty; it must be one JSON object")
    for value in json_values(text):
        if isinstance(value, dict | list):
            return value
    raise ValueError("the reply was not valid JSON; it must be one JSON object with the fields shown")


def repair_prompt(
    user: str, reply: str, problems: str | Sequence[str], *, ask: str, keep: int, tags: tuple[str, ...]
) -> str:
    """The corrective retry: the first prompt again, what was wrong (`problems`: one sentence, or a list shown
    as one line each), the reply it was wrong about (cut to `keep` characters, between <previous> markers it
    cannot break, the writer's own `tags` defused too) and `ask`, what to send instead."""
    if isinstance(problems, str):
        wrong = f" {problems}."
    else:
        wrong = "\n" + "\n".join(f"- {p}" for p in problems[:30])
    previous = reply if len(reply) <= keep else reply[:keep] + "…"
    quoted = defuse(previous, tuple(dict.fromkeys(("previous", *tags))))
    return (
        f"{user}\n\nYour previous reply could not be used:{wrong}\n"
        f"Previous reply (for reference):\n<previous>\n{quoted}\n</previous>\n\n{ask}"
    )
