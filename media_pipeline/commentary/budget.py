"""How many words fit in an interval, and cutting text to fit without breaking a sentence or a word."""

from __future__ import annotations

import math
import re

from ..analysis.sentences import SENTENCE_ENDS

# A sentence ends at . ! ? or … (possibly followed by closing quotes/brackets) before a space or the end, not
# after "Mr." or "e.g." (analysis.sentences.SENTENCE_ENDS). Both patterns start only at the first mark of a run
# (the lookbehind): otherwise a run of n marks not followed by a space is scanned from each of its n marks,
# quadratic time on text such as "!?!?!?…".
# A clause ends at , ; : or a dash before a space, or at a spaced dash.
_CLAUSE_END = re.compile(r"(?<![,;:\u2014\u2013])[,;:\u2014\u2013]+(?=\s)|\s[\u2014\u2013-]+(?=\s)")
MIN_CLAUSE_WORDS = 3  # "So." alone is not worth saying


def word_budget(duration: float, *, delay: float = 1.0, words_per_second: float, tail: float = 1.0) -> int:
    """Words that can be spoken in an interval of `duration` seconds when speech starts `delay` s in and
    must end `tail` s before the interval does (so it never runs into the next chunk)."""
    speakable = duration - delay - tail
    if speakable <= 0 or words_per_second <= 0:
        return 0
    return int(math.floor(speakable * words_per_second + 1e-9))


def count_words(text: str) -> int:
    return len(text.split())


def fit_to_budget(text: str, budget: int) -> str:
    """`text` with at most `budget` words: whole sentences if any fit, else the longest run of whole
    clauses (ending in a full stop), else "". Whitespace is normalised; a word is never cut."""
    text = " ".join(text.split())
    if budget <= 0 or not text:
        return ""
    if count_words(text) <= budget:
        return text
    best = ""
    for m in SENTENCE_ENDS.finditer(text):
        prefix = text[: m.end()]
        if count_words(prefix) > budget:
            break
        best = prefix
    if best:
        return best.strip()
    for m in _CLAUSE_END.finditer(text):
        prefix = text[: m.start()].rstrip()
        n = count_words(prefix)
        if n > budget:
            break
        if n >= MIN_CLAUSE_WORDS:
            best = prefix
    if best:
        return best.rstrip(" ,;:-\u2014\u2013") + "."
    return ""
