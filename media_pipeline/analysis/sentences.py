"""Where sentences end in transcript text: after . ! ? or …, but not after a title or a Latin abbreviation
("Mr. Smith", "Dr. Jones", "e.g. the sales view"), whose full stop is part of the word.

Every writer splits with these patterns (ideas, commentary, the quality suite, the word budget), so a piece
never starts a slide or a spoken line with "Smith met Dr." after a lone "Mr.".
"""

from __future__ import annotations

import re

# Words whose full stop does not end a sentence. Left out on purpose: "etc.", "No.", "Inc." and the like,
# which end sentences as often as not.
ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Sr", "Jr", "St", "vs", "e.g", "i.e", "cf", "approx")

# Fixed-width lookbehinds (Python's `re` needs them fixed): one per abbreviation, all case-insensitive.
_BEFORE_MARK = "".join(rf"(?<!\b{re.escape(a)})" for a in ABBREVIATIONS)  # at the mark itself
_AFTER_MARK = "".join(rf"(?<!\b{re.escape(a)}\.)" for a in ABBREVIATIONS)  # just after the mark

# The gap between two sentences (what re.split removes): after an end mark and any closing quotes.
SENTENCE_GAP = re.compile(rf"(?<=[.!?…]){_AFTER_MARK}[\"'”’)\]]*\s+", re.IGNORECASE)
# A text that ends a sentence (its last mark is not an abbreviation's).
SENTENCE_END = re.compile(rf"{_BEFORE_MARK}[.!?…][\"'”’)\]]*$", re.IGNORECASE)
# Each sentence end inside a text (a run of marks, matched from its first mark, before a space or the end).
SENTENCE_ENDS = re.compile(rf"(?<![.!?\u2026]){_BEFORE_MARK}[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, whitespace normalised; "Mr. Smith agreed." is one sentence."""
    return [s.strip() for s in SENTENCE_GAP.split(" ".join(text.split())) if s.strip()]
