"""Is a phrase a topic a creator would post under? A noun phrase that names something, not a verb pair.

YAKE (analysis.keywords.key_phrases) and the tf-idf terms are statistical: "savings happen", "beaten",
"exactly" or "build" score like topics. A title, a hashtag, a slide heading or a chapter title is a noun
phrase, so each candidate is checked here, word by word:
- **word classes** from lemminflect's English lexicon (`lemminflect` on PyPI: its lemma tables ship inside
  the package, nothing is downloaded; about 0.5 s to load once): a word the lexicon knows only as a verb
  ("happen", "beaten"), an adverb ("exactly") or a function word cannot end a topic, and a verb-only or
  adverb-only word cannot stand anywhere in one. A word the lexicon does not know ("pjsip", "glymphatic")
  is jargon or a name, so it may.
- **how the speaker uses it**: a word that can be both ("build", "split", "call") counts as a noun after a
  determiner, a possessive or a preposition ("a budget", "your call", "about sleep") or before "of", and as
  a verb after a pronoun, a modal or "to", or before a determiner or an object pronoun ("build a budget",
  "split your spending"). A single word used more often as a verb than as a noun is not a topic.
- **generic words**: nouns that name no subject on their own ("system", "thing", "chance", "effects",
  "weekend", "part"): fine inside a phrase ("glymphatic system", "rule of thumb"), not alone.

`topic_problem` says what is wrong with a phrase (or None); `is_topic` is its boolean. The quality suite
(ideas/quality.py) runs the same check on every writer's titles, headings and hashtags.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

from ..analysis.keywords import NOT_TOPICS

# Nouns that name no subject alone (lemmas). Time words too: "Weekends in 29 seconds" says nothing.
GENERIC = frozenset(
    """
    thing stuff way lot part point kind type sort bit piece place time day week month year moment end start
    beginning middle side system rule chance effect result problem question answer reason idea fact case
    example number amount level area world life people person guy everyone someone everybody man woman
    video channel episode show today tomorrow yesterday morning afternoon evening night weekend hour minute
    second everything something nothing anything one matter issue deal job work change step process term
    situation information content subject topic word line list group couple half rest whole top bottom
    front back lesson tip trick hack secret version setup stage turn use need
    """.split()
)
NUMBERS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty sixty "
    "seventy eighty ninety hundred thousand million first second third".split()
)
# A word the lexicon does not know but spelled like an adjective ("glymphatic"): it needs its noun.
_ADJECTIVE_END = re.compile(r"(?:ic|al|ous|ive|ful|less|able|ible|ish)$")
# Words that put the next word in a noun's place (determiners, possessives, prepositions, numbers).
_NOUN_BEFORE = frozenset(
    """
    a an the this that these those my your our their his her its every each some any no another which
    whose of for about on in with at from into by over under after before without per two three four five
    six ten hundred several many few more most
    """.split()
)
# Words that put the next word in a verb's place (pronouns, modals, "to", negation).
_VERB_BEFORE = frozenset(
    """
    i you we they he she to will would can could should must may might do does did don't doesn't didn't
    not never cannot can't won't wouldn't shouldn't couldn't let's please gonna wanna i'll you'll we'll
    they'll i'd you'd we'd
    """.split()
)
_ADVERBS = frozenset("actually really just also even still always only then sometimes usually".split())
# Words after a verb: a determiner or an object pronoun ("build a budget", "split your spending").
_VERB_AFTER = frozenset("a an the this that these those my your our their his her its them me us him".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")


@lru_cache(maxsize=1)
def _lexicon() -> Any:
    import lemminflect  # imported here: its tables load on first use (~0.5 s), and most callers never ask

    return lemminflect


@lru_cache(maxsize=4096)
def word_classes(word: str) -> frozenset[str]:
    """The universal POS tags lemminflect's lexicon has for `word` ("call" → NOUN, VERB); empty when the
    lexicon does not know it (jargon, names)."""
    try:
        return frozenset(_lexicon().getAllLemmas(word.lower()))
    except Exception:  # a library failure costs the check, never the piece
        return frozenset()


@lru_cache(maxsize=4096)
def lemma(word: str) -> str:
    """The word's noun lemma when it has one ("weekends" → "weekend"), else the word."""
    try:
        found = _lexicon().getAllLemmas(word.lower())
    except Exception:
        return word.lower()
    for pos in ("NOUN", "PROPN"):
        if pos in found:
            return str(found[pos][0]).lower()
    return word.lower()


def _can_name(word: str) -> bool:
    """The word can be (the head of) a noun phrase: a noun, a name, or a word the lexicon does not know."""
    classes = word_classes(word)
    return not classes or bool(classes & {"NOUN", "PROPN"}) or (word.endswith("ing") and "VERB" in classes)


def _only(word: str, pos: set[str]) -> bool:
    classes = word_classes(word)
    return bool(classes) and classes <= pos


class Usage:
    """How often each word of a text stands where a noun stands and where a verb stands, and which words
    it writes capitalised away from a sentence start (names). Built once per transcript (`usage`)."""

    def __init__(self, text: str) -> None:
        self.noun: Counter[str] = Counter()
        self.verb: Counter[str] = Counter()
        self.named: set[str] = set()
        self._parts: list[list[str]] = []
        self._at: dict[str, list[tuple[int, int]]] = {}
        for m in _WORD.finditer(text):
            if m.group(0)[:1].isupper():
                before = text[max(0, m.start() - 8) : m.start()].rstrip()
                if before and before[-1] not in ".!?":
                    self.named.add(m.group(0).lower().strip("'-"))
        # Sentence by sentence: "…in the dial plan. Check the console" must not count "plan" before "check".
        for part in re.split(r"[.!?;:,]+", text.lower()):
            words = [w.strip("'-") for w in _WORD.findall(part)]
            index = len(self._parts)
            self._parts.append(words)
            for i, w in enumerate(words):
                self._at.setdefault(w, []).append((index, i))
                before = _before(words, i)
                after = words[i + 1] if i + 1 < len(words) else ""
                if before in _NOUN_BEFORE or after == "of":
                    self.noun[w] += 1
                elif before in _VERB_BEFORE or after in _VERB_AFTER:
                    self.verb[w] += 1

    def verb_phrase(self, phrase: str) -> bool:
        """Where the speaker says the phrase, it is mostly a clause ("the referee blows the whistle",
        "to build budgets"): its last word takes an object, or its first follows a pronoun or a modal."""
        words = phrase.lower().split()
        if not words:
            return False
        verbish = total = 0
        for index, i in self._at.get(words[0], ()):
            said = self._parts[index]
            if said[i : i + len(words)] != words:
                continue
            total += 1
            after = said[i + len(words)] if i + len(words) < len(said) else ""
            if (after in _VERB_AFTER and "VERB" in word_classes(words[-1])) or (
                _before(said, i) in _VERB_BEFORE and "VERB" in word_classes(words[0])
            ):
                verbish += 1
        return total > 0 and verbish * 2 > total

    def mostly_verb(self, word: str) -> bool:
        w = word.lower()
        return "VERB" in word_classes(w) and self.verb[w] > self.noun[w]


def _before(words: list[str], i: int) -> str:
    """The word before words[i], looking past adverbs ("you can actually stick to it" → "can")."""
    j = i - 1
    while j >= 0 and words[j] not in _NOUN_BEFORE and (words[j].endswith("ly") or words[j] in _ADVERBS):
        j -= 1
    return words[j] if j >= 0 else ""


@lru_cache(maxsize=64)
def usage(text: str) -> Usage:
    return Usage(text)


def is_generic(phrase: str) -> bool:
    """Every word of the phrase is a generic noun (or it has none): it names no subject."""
    words = [w for w in _WORD.findall(phrase)]
    return not words or all(lemma(w) in GENERIC for w in words)


def topic_problem(phrase: str, text: str = "") -> str | None:
    """Why `phrase` is not a topic to title or tag a post with, judged with how `text` (the transcript)
    uses its words; None when it is one. Names and acronyms as written ("Silva", "PBX") are topics."""
    words = _WORD.findall(phrase)
    if not words:
        return "no words"
    lowered = [w.lower() for w in words]
    # A name or an acronym as the speaker's captions write it ("Silva", "PBX"), not a title-cased heading.
    named = all((w.isupper() and len(w) > 1) or _name_in(w, text) for w in words)
    if not named:
        for w in lowered:
            if w in NUMBERS or w.isdigit():
                return f"“{w}” is a number"
            if w in NOT_TOPICS:
                return f"“{w}” is an everyday word, not a topic"
            if _only(w, {"ADV", "ADP", "CCONJ", "SCONJ", "DET", "PRON", "AUX", "PART", "INTJ", "NUM"}):
                return f"“{w}” is not a noun"
            if _only(w, {"VERB", "AUX"}) and not w.endswith("ing"):
                return f"“{w}” is a verb"
        head = lowered[-1]
        if not word_classes(head) and _ADJECTIVE_END.search(head) and not _name_in(head, text):
            return f"“{head}” reads as an adjective without its noun"
        if not _can_name(head):
            return f"“{head}” cannot end a noun phrase"
        if len(words) == 1 and text and usage(text).mostly_verb(head):
            return f"“{head}” is said as a verb"
        if len(words) > 1 and text and usage(text).verb_phrase(phrase):
            return f"“{phrase}” is said as a clause"
    if is_generic(phrase):
        return f"“{phrase}” is too generic"
    return None


def _name_in(word: str, text: str) -> bool:
    """`text` writes `word` capitalised away from a sentence start (a name: "Silva", "Asterisk")."""
    return bool(text) and word.lower() in usage(text).named


def is_topic(phrase: str, text: str = "") -> bool:
    return topic_problem(phrase, text) is None
