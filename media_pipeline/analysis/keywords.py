"""Keywords of an interval's speech: frequent here, rarer in the rest of the transcript seen so far."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..transcript.types import Segment

# English function words and filler that carry no topic. Short on purpose: tf-idf against the rest of the
# transcript demotes whatever common words this list misses.
STOPWORDS = frozenset(
    """
    a about above after again against all almost also although always am among an and another any anybody
    anyone anything anyway are aren't around as at away back be became because become been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't done
    down during each either else enough even ever every everybody everyone everything few first for from
    further get gets getting go goes going gone got gotta gonna had hadn't has hasn't have haven't having he
    he'd he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've if in
    into is isn't it it's its itself just kind know last least less let let's like little lot lots made make
    makes many may maybe me might mine more most much must mustn't my myself need needs never new next no
    nobody none nor not nothing now of off often oh ok okay on once one ones only onto or other others
    otherwise our ours ourselves out over own part per perhaps please pretty quite rather re really right
    said same say says see seem seems several shall she she'd she'll she's should shouldn't since so some
    somebody someone something sometimes somewhat soon sort still such sure take than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've thing things think
    this those though through thus to today together too took toward towards two um uh under until up upon
    us use used using very via want wanted wants was wasn't way we we'd we'll we're we've well went were
    weren't what what's whatever when where where's whether which while who who's whole whom whose why will
    with within without won't would wouldn't yeah yes yet you you'd you'll you're you've your yours yourself
    yourselves actually basically literally right alright hey hi hello thanks thank mean means go come
    came look looks looking good great bit three four five six seven eight nine ten year years time times
    day days people guys guy stuff yep nope mhm hmm ah ooh
    """.split()
)
# Words that mark a moment worth a comment in sports and live footage: always kept as keywords (even said
# once) and they raise the interval's score.
EXCITING = frozenset(
    """
    goal goals score scores scored penalty penalties foul card save saves saved shot shoots touchdown
    homerun home-run knockout win wins winner won victory champion champions wow amazing incredible
    unbelievable insane huge massive brilliant stunning crash explosion
    """.split()
)
# Words that are said often but name no topic: units of time, everyday verbs, sentence glue. A topic is a
# thing, so these never head a title, a slide or a hashtag (tf-idf alone lets them through).
NOT_TOPICS = frozenset(
    """
    second seconds minute minutes hour hours day days week weeks month months year years time times
    open write check split start stop add put set run keep try tell talk make sure dot
    long short hard easy big small real whole better best last top side thing way part point kind
    finally actually exactly totally honestly absolutely probably
    """.split()
)
MAX_KEYWORDS = 5
MIN_LENGTH = 3
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; possessive 's and edge apostrophes dropped."""
    out = []
    for m in _TOKEN.finditer(text):
        word = m.group(0).lower().strip("'-")
        if word.endswith("'s"):
            word = word[:-2]
        if word:
            out.append(word)
    return out


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if is_content(t)]


def is_content(token: str) -> bool:
    return len(token) >= MIN_LENGTH and token not in STOPWORDS


def _key(segment: Segment) -> tuple[float, float, str]:
    return (round(segment.start, 2), round(segment.end, 2), segment.text)


@dataclass
class KeywordContext:
    """Document frequencies over the transcript seen so far; each segment is one document.

    `update` may be called again with overlapping or repeated segments (for example the whole transcript so
    far, interval after interval): a segment already counted is not counted twice.
    """

    documents: int = 0

    def __post_init__(self) -> None:
        self._df: Counter[str] = Counter()
        self._seen: set[tuple[float, float, str]] = set()

    def update(self, segments: Iterable[Segment]) -> None:
        for segment in segments:
            key = _key(segment)
            if key in self._seen or not segment.text.strip():
                continue
            self._seen.add(key)
            self.documents += 1
            self._df.update(set(content_tokens(segment.text)))

    def idf(self, token: str) -> float:
        """log(1 + N / (1 + df)): ~log 2 for a word in every segment, larger the rarer it is."""
        return math.log(1 + self.documents / (1 + self._df[token]))


def pick_keywords(counts: Counter[str], context: KeywordContext | None) -> list[str]:
    """Up to MAX_KEYWORDS words, best first: said at least twice here, or exciting (which also weigh
    double), ranked by tf·idf. Without a context every idf is 1, so the ranking is by count, then by length
    (longer words are more often topical), then alphabetically so the result is deterministic.
    """

    def weight(word: str) -> float:
        idf = context.idf(word) if context is not None and context.documents else 1.0
        bonus = 2.0 if word in EXCITING else 1.0
        return counts[word] * idf * bonus * (1 + 0.05 * min(len(word) - MIN_LENGTH, 6))

    candidates = [w for w, n in counts.items() if n >= 2 or w in EXCITING]
    candidates.sort(key=lambda w: (-weight(w), -len(w), w))
    return candidates[:MAX_KEYWORDS]


# --- key phrases (YAKE) -------------------------------------------------------------------------------------
# YAKE (yake on PyPI) ranks one- to three-word phrases by statistics of the text itself: position, case,
# frequency, how many different words surround a term. It needs no corpus, no model and no data download,
# which is why it was chosen over RAKE (nltk's stopword data) and sumy (nltk's punkt data, fetched at run time).
KEY_PHRASE_WORDS = 3


@lru_cache(maxsize=8)
def _yake(n: int, top: int) -> Any:
    import yake  # imported here: it pulls in networkx and numpy, which most callers never need

    return yake.KeywordExtractor(lan="en", n=n, top=top, dedupLim=0.7)


def key_phrases(text: str, *, limit: int = 5, max_words: int = KEY_PHRASE_WORDS) -> list[str]:
    """Up to `limit` key phrases of `text`, best first, lower-case and as said (so each one is real words
    from the text). A phrase is content words only, with no word said twice; filler ("today", "okay") never counts.
    A phrase sharing a word with a better one is left out (titles and hashtags would repeat it)."""
    return list(_key_phrases(" ".join(text.split()), limit, max_words))


@lru_cache(maxsize=256)
def _key_phrases(text: str, limit: int, max_words: int) -> tuple[str, ...]:
    # Cached: a piece asks for the same passage's phrases for its idea, its title, its slides and its tags.
    if not text:
        return ()
    try:
        found = _yake(max_words, max(limit * 4, 12)).extract_keywords(text)
    except Exception:  # a library failure costs the phrases, never the piece
        return ()
    out: list[str] = []
    for phrase, _score in found:
        words = tokens(phrase)
        # Every word a content word: "builds a syntax" is a piece of a clause, not a phrase.
        if not words or not all(is_content(w) for w in words) or len(set(words)) < len(words):
            continue
        if any(w.isdigit() for w in words):
            continue
        lowered = " ".join(words)
        if any(_overlaps(lowered, kept) for kept in out):
            continue
        out.append(lowered)
        if len(out) == limit:
            break
    return tuple(out)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _overlaps(a: str, b: str) -> bool:
    """The phrases share a word (up to a plural): naming both would say the same thing twice."""
    return bool({_stem(w) for w in a.split()} & {_stem(w) for w in b.split()})


def _pattern(phrase: str) -> str:
    return r"\b" + r"\W+".join(map(re.escape, phrase.split())) + r"\b"


def is_name(phrase: str, text: str) -> bool:
    """`text` writes the phrase with every word capitalised ("Asterisk PBX"): a name, so a topic."""
    m = re.search(_pattern(phrase), text, re.IGNORECASE)
    return m is not None and all(w[:1].isupper() for w in m.group(0).split())


def as_written(phrase: str, text: str) -> str:
    """The phrase as `text` writes it when that is a name or an acronym ("Asterisk", "PBX"), else as given;
    a capital that only starts a sentence does not count."""
    for m in re.finditer(_pattern(phrase), text, re.IGNORECASE):
        at_start = m.start() == 0 or re.search(r"[.!?]\s*$", text[: m.start()]) is not None
        if not at_start and any(ch.isupper() for ch in m.group(0)):
            return m.group(0)
    for m in re.finditer(_pattern(phrase), text, re.IGNORECASE):
        if m.group(0).isupper() and len(m.group(0)) > 1:
            return m.group(0)
    return phrase
