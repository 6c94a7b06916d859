"""Ideas and pieces with no network and no key: extractive, templated, deterministic.

It picks the strongest passages of the transcript and reuses the speaker's own words: a hook from the
strongest sentence, a script that is the passage itself, slides from its key sentences, a tweet from its
best line. Only the fixed phrases (call to action, a lead-in for the audience) come from the style.

Salience of a segment:
1. keyword weight — every word (stopwords removed) gets log(1 + count in the transcript) × idf, where
   idf is computed over segments, so words the video keeps returning to in some places (its topics) outweigh
   both one-off words and words said everywhere; a segment scores the sum of its distinct words' weights,
   divided by √(its word count) so long rambling segments do not win on length alone;
2. speech density — words per second (or the analysis' speech_ratio), capped;
3. the analysis score of the interval the segment falls in (0–100), when analyses are given.
A window (a run of whole segments) scores its duration-weighted mean salience over its full length (gaps
count as zero), times a small preference for the kind's target length. Windows are taken greedily,
best first, never overlapping.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from media_pipeline.analysis.keywords import NOT_TOPICS, as_written, is_name, key_phrases
from media_pipeline.analysis.sentences import SENTENCE_END, SENTENCE_GAP
from media_pipeline.transcript.types import Segment

from .schema import (
    CAPTION_MAX,
    HASHTAG_MAX,
    HOOK_MAX,
    REEL_MIN_S,
    SCRIPT_MAX,
    SLIDE_HEADING_MAX,
    SLIDE_TEXT_MAX,
    SLIDES_MAX,
    SLIDES_MIN,
    THREAD_TWEET_MAX,
    TITLE_MAX,
    TWEET_MAX,
    Idea,
    clean_text,
    shorten,
    validate_piece,
)
from .styles import CUSTOM, Style
from .topics import is_topic

# Part of the cache key of offline results: bump when the algorithm's output changes.
OFFLINE_VERSION = "offline-3"

# Kinds in the order ideas are planned: the first ideas are the most valuable, and a short request still
# gets one of each kind.
KIND_PLAN = ("reel", "image_carousel", "tweet", "reel", "tweet", "image_carousel", "reel", "tweet")
MAX_IDEAS = len(KIND_PLAN)


@dataclass(frozen=True)
class _Shape:
    min_s: float
    target_s: float
    max_s: float
    min_sentences: int = 1


SHAPES = {
    "reel": _Shape(15.0, 30.0, 60.0),
    "image_carousel": _Shape(20.0, 50.0, 90.0, min_sentences=SLIDES_MIN),
    "tweet": _Shape(8.0, 20.0, 40.0, min_sentences=1),
}

STOPWORDS = frozenset(
    """
    a about above actually after again against all almost also although always am among an and another any
    anybody anyone anything anyway are aren't around as at away back be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't done down
    during each either else enough even ever every everybody everyone everything few first for from
    further get gets getting go goes going gone gonna got gotta had hadn't has hasn't have haven't having
    he he'd he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've
    if in into is isn't it it's its itself just kind kinda know let let's like likely look lot lots made
    make makes making many may maybe me might mine more most much must my myself need needs never new next
    no nor not nothing now of off often oh ok okay on once one ones only or other others otherwise our ours
    ourselves out over own pretty quite rather really right said same say says see seem seems she she'd
    she'll she's should shouldn't so some somebody someone something sometimes sort still stuff such sure
    take than that that's the their theirs them themselves then there there's these they they'd they'll
    they're they've thing things think this those though through thus to today too toward towards two
    um uh under until up upon us use used using very via want wanna wants was wasn't way we we'd we'll
    we're we've well were weren't what what's whatever when where where's whether which while who who's
    whom whose why will with within without won't would wouldn't yeah yes yet you you'd you'll you're
    you've your yours yourself yourselves also basically literally totally guys hey hello welcome
    """.split()
)

# A word, with its hyphens ("real-time" is one word: never "time" alone) and one apostrophe.
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*(?:['’][^\W\d_]+)?")
_FILLER_RE = re.compile(r"\b(?:u+m+|u+h+|e+r+m+|h+m+)\b[,.]?\s*", re.IGNORECASE)
_TAG_RE = re.compile(
    r"\[(?:music|applause|laughter|inaudible|silence|noise)[^\[\]]*\]|\((?:music|applause|laughter)\)", re.I
)
_REPEAT_RE = re.compile(r"\b(\w+)(\s+\1\b)+", re.IGNORECASE)
# Starts only at the first space of a run: "\s*" tried from every space of a long run is quadratic.
_CLAUSE_RE = re.compile(r"(?<!\s)\s*(?:[,:;]|\s[—–-]\s)\s*")

# Run-on transcripts (auto captions without punctuation) are cut into "sentences" of about this many words.
RUN_ON_WORDS = 25

# Lead-ins per preset; a custom style addresses its audience by name.
LEADS = {
    "ecommerce": "Store owners, this one is for you: {point}",
    "educator": "Quick lesson: {point}",
    "podcast": "From the episode: {point}",
    "gaming": "Big moment: {point}",
}
VISUAL_EXTRAS = {
    "ecommerce": "Show the product or store page on screen while “{kw}” is explained.",
    "educator": "Number each point on screen as it is made.",
    "podcast": "Two-shot of the speakers, with an animated waveform under the captions.",
    "gaming": "Slow-motion replay of the key moment around {at}.",
}


@dataclass
class _Sentence:
    text: str
    start: float
    end: float
    tokens: list[str]
    score: float = 0.0

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


@dataclass
class _Analysis:
    segments: list[Segment]
    weights: dict[str, float]
    salience: list[float]
    density: list[float]
    interval: list[float | None]
    sentences: list[_Sentence]
    # two-word phrases that recur as a unit ("open rate"), so they are named together, not as "open" and "rate"
    phrases: frozenset[tuple[str, str]] = frozenset()
    sentence_mids: list[float] = field(default_factory=list)
    # prefix sums over segments of salience × duration, for O(1) window scores
    prefix: list[float] = field(default_factory=list)
    lowered: str = ""  # the whole transcript as lower-case words, to count how often a phrase is said
    text: str = ""  # the whole transcript as printed sentences, to tell how the speaker uses a word


def tokens(text: str) -> list[str]:
    """Lower-case content words (stopwords, short words and numbers removed)."""
    out = []
    for match in _WORD_RE.finditer(text.lower()):
        word = match.group(0).replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        # Other contractions (don't, we'll) are function words.
        if len(word) >= 3 and "'" not in word and word not in STOPWORDS:
            out.append(word)
    return out


def pairs(text: str) -> list[tuple[str, str]]:
    """Adjacent content words ("open rate", "trust badges"): candidates for two-word key phrases."""
    words = [m.group(0).replace("’", "'") for m in _WORD_RE.finditer(text.lower())]
    words = [w[:-2] if w.endswith("'s") else w for w in words]

    def content(w: str) -> bool:
        return len(w) >= 3 and "'" not in w and w not in STOPWORDS

    return [(a, b) for a, b in zip(words, words[1:], strict=False) if a != b and content(a) and content(b)]


def tidy(text: str) -> str:
    """Light cleaning for text we publish: no [Music] tags, no 'um', no 'the the', a capital letter first."""
    text = _TAG_RE.sub(" ", text)
    text = _FILLER_RE.sub("", text)
    text = _REPEAT_RE.sub(r"\1", text)
    text = clean_text(text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    return text[:1].upper() + text[1:] if text else text


def mmss(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _sentences(segments: list[Segment]) -> list[_Sentence]:
    """Sentences with times: segment text split at sentence ends, times interpolated by character position."""
    out: list[_Sentence] = []
    parts: list[str] = []
    start: float | None = None

    def close(end: float) -> None:
        nonlocal parts, start
        text = tidy(" ".join(parts))
        if text and start is not None:
            out.append(_Sentence(text=text, start=start, end=max(end, start + 0.01), tokens=tokens(text)))
        parts, start = [], None

    for seg in segments:
        text = clean_text(seg.text)
        if not text:
            continue
        span = max(seg.end - seg.start, 0.0)
        fragments = [f for f in SENTENCE_GAP.split(text) if f.strip()]
        offset = 0
        for fragment in fragments:
            frag_start = seg.start + span * offset / max(len(text), 1)
            offset += len(fragment) + 1
            frag_end = seg.start + span * min(offset, len(text)) / max(len(text), 1)
            if start is None:
                start = frag_start
            parts.append(fragment)
            if SENTENCE_END.search(fragment):
                close(frag_end)
        if parts and sum(len(p.split()) for p in parts) >= RUN_ON_WORDS:
            close(seg.end)
    if parts:
        close(segments[-1].end if segments else 0.0)
    return out


def _interval_for(seg: Segment, analyses: list[dict[str, Any]]) -> dict[str, Any] | None:
    best, best_overlap = None, 0.0
    for interval in analyses:
        try:
            overlap = min(seg.end, float(interval["end"])) - max(seg.start, float(interval["start"]))
        except (KeyError, TypeError, ValueError):
            continue
        if overlap > best_overlap:
            best, best_overlap = interval, overlap
    return best


def _analyse(segments: list[Segment], analyses: list[dict[str, Any]] | None) -> _Analysis:
    segs = sorted((s for s in segments if clean_text(s.text) and s.end > s.start), key=lambda s: (s.start, s.end))
    seg_tokens = [tokens(s.text) for s in segs]
    counts: Counter[str] = Counter()
    df: Counter[str] = Counter()
    for toks in seg_tokens:
        counts.update(toks)
        df.update(set(toks))
    n = max(len(segs), 1)
    raw = {w: math.log(1 + c) * math.log((n + 1) / df[w]) for w, c in counts.items()}
    top = max(raw.values(), default=0.0) or 1.0
    weights = {w: v / top for w, v in raw.items()}
    # Keywords another stage found (the interval analysis) count as topics too.
    for analysed in analyses or []:
        for kw in analysed.get("keywords") or []:
            for word in tokens(str(kw)):
                if word in weights:
                    weights[word] = min(1.0, weights[word] + 0.25)

    kw_scores = []
    for seg, toks in zip(segs, seg_tokens, strict=True):
        n_words = max(len(seg.text.split()), 1)
        kw_scores.append(sum(weights[w] for w in set(toks)) / math.sqrt(n_words))
    kw_top = max(kw_scores, default=0.0) or 1.0

    density: list[float] = []
    interval_scores: list[float | None] = []
    salience: list[float] = []
    for seg, kw in zip(segs, kw_scores, strict=True):
        interval = _interval_for(seg, analyses) if analyses else None
        wps = len(seg.text.split()) / max(seg.end - seg.start, 0.5)
        dens = min(wps / 3.0, 1.0)
        if interval is not None and isinstance(interval.get("speech_ratio"), (int, float)):
            dens = 0.5 * dens + 0.5 * max(0.0, min(float(interval["speech_ratio"]), 1.0))
        score = None
        if interval is not None and isinstance(interval.get("score"), (int, float)):
            score = max(0.0, min(float(interval["score"]), 100.0)) / 100.0
        density.append(dens)
        interval_scores.append(score)
        if score is None:
            salience.append(0.75 * kw / kw_top + 0.25 * dens)
        else:
            salience.append(0.6 * kw / kw_top + 0.2 * dens + 0.2 * score)

    sentences = _sentences(segs)
    pair_counts: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        pair_counts.update(pairs(sentence.text))
    phrases = frozenset(
        p for p, c in pair_counts.items() if c >= 2 and c >= 0.6 * min(counts[p[0]] or c, counts[p[1]] or c)
    )
    for sentence in sentences:
        n_words = max(len(sentence.text.split()), 1)
        sentence.score = sum(weights.get(w, 0.0) for w in set(sentence.tokens)) / math.sqrt(n_words)
    prefix = [0.0]
    for seg, sal in zip(segs, salience, strict=True):
        prefix.append(prefix[-1] + sal * (seg.end - seg.start))
    return _Analysis(
        segments=segs,
        weights=weights,
        salience=salience,
        density=density,
        interval=interval_scores,
        sentences=sentences,
        phrases=phrases,
        sentence_mids=[s.mid for s in sentences],
        prefix=prefix,
        lowered=" " + " ".join(_WORD_RE.findall(" ".join(s.text for s in sentences).lower())) + " ",
        text=" ".join(s.text for s in sentences),
    )


@lru_cache(maxsize=4)
def _analyse_cached(segments: tuple[Segment, ...]) -> _Analysis:
    # Pieces are made one idea at a time (possibly in threads) from the same transcript; analyse it once.
    return _analyse(list(segments), None)


@dataclass(frozen=True)
class _Window:
    first: int
    last: int
    start: float
    end: float
    score: float


def _windows(a: _Analysis, kind: str, duration: float) -> list[_Window]:
    """Every run of whole segments that fits the kind's shape, best first (ties: earliest)."""
    shape = SHAPES[kind]
    segs = a.segments
    # Short videos still get pieces: the shape shrinks to what the video has.
    min_s = min(shape.min_s, max(duration * 0.5, REEL_MIN_S if kind == "reel" else 1.0))
    min_sentences = min(shape.min_sentences, max(len(a.sentences), 1))
    out: list[_Window] = []
    for i in range(len(segs)):
        for j in range(i, len(segs)):
            start, end = segs[i].start, min(segs[j].end, duration)
            length = end - start
            if length > shape.max_s and j > i:
                break
            if length < min_s:
                continue
            if kind == "reel" and length > shape.max_s:
                # One segment longer than a reel: keep its first minute; the range is no longer snapped.
                end = start + shape.max_s
                length = shape.max_s
            if kind == "reel" and length < REEL_MIN_S:
                continue
            if min_sentences > 1:
                inside = bisect.bisect_right(a.sentence_mids, end) - bisect.bisect_left(a.sentence_mids, start)
                if inside < min_sentences:
                    continue
            weighted = a.prefix[j + 1] - a.prefix[i]
            fit = 1.0 - 0.3 * min(abs(length - shape.target_s) / shape.target_s, 1.0)
            out.append(_Window(i, j, round(start, 3), round(end, 3), weighted / max(length, 0.5) * fit))
    out.sort(key=lambda w: (-w.score, w.start, w.end))
    return out


def _top_keywords(a: _Analysis, start: float, end: float, n: int) -> list[str]:
    """The passage's key terms (words or two-word phrases), by count in the passage × transcript weight."""
    return _rank_terms(a, [s for s in a.sentences if start <= s.mid <= end], n)


def _rank_terms(a: _Analysis, sentences: list[_Sentence], n: int) -> list[str]:
    counts: Counter[str] = Counter()
    score: dict[str, float] = {}
    for s in sentences:
        counts.update(s.tokens)
        for pair in pairs(s.text):
            if pair in a.phrases:
                counts[" ".join(pair)] += 1
    for term, c in counts.items():
        words = term.split()
        # A phrase is worth a little more than its words, so "open rate" beats "open" and "rate".
        score[term] = c * sum(a.weights.get(w, 0.0) for w in words) / len(words) * (1.3 if len(words) > 1 else 1.0)
    out: list[str] = []
    covered: set[str] = set()
    for term in sorted(counts, key=lambda t: (-score[t], t)):
        words = term.split()
        # Skip terms whose words are already named, and plural twins ("photo" after "photos").
        if any(w in covered or any(w.startswith(c) or c.startswith(w) for c in covered) for w in words):
            continue
        out.append(term)
        covered.update(words)
        if len(out) == n:
            break
    return out


def plan_kinds(count: int) -> list[str]:
    """For 3: reel, carousel, tweet; for 5: 2 reels, 2 tweets, 1 carousel."""
    return list(KIND_PLAN[: max(1, min(count, MAX_IDEAS))])


def offline_ideas(
    segments: list[Segment],
    *,
    style: Style,
    count: int,
    duration: float,
    analyses: list[dict[str, Any]] | None = None,
) -> list[Idea]:
    """Up to `count` ideas from the strongest non-overlapping passages. Fewer when the video is too short."""
    a = _analyse(list(segments), analyses)
    if not a.segments or duration <= 0:
        return []
    chosen: list[tuple[str, _Window]] = []
    ranked = {kind: _windows(a, kind, duration) for kind in SHAPES}

    def free(w: _Window) -> bool:
        return all(w.end <= c.start or c.end <= w.start for _, c in chosen)

    kinds = plan_kinds(count)
    steps = _steps_window(a, duration)
    if steps is not None and "image_carousel" in kinds:
        # A tutorial that lists its steps: its first carousel is those steps, chosen before any reel takes them.
        chosen.append(("image_carousel", steps))
        kinds.remove("image_carousel")
    for kind in kinds:
        # A kind that has no room left gives way to the most forgiving one (a tweet needs one sentence).
        for candidate in (kind, "tweet"):
            window = next((w for w in ranked[candidate] if free(w)), None)
            if window is not None:
                chosen.append((candidate, window))
                break
    return [_idea(a, kind, w, style, analysed=bool(analyses), index=n) for n, (kind, w) in enumerate(chosen)]


def _steps_window(a: _Analysis, duration: float) -> _Window | None:
    """The span from the first to the last step the speaker lists, when they list steps and the span fits
    a carousel's longest passage."""
    marked = [s for s in a.sentences if step_body(s.text)]
    if not gives_steps(marked):
        return None
    first = next(i for i, s in enumerate(marked) if _LEAD_RE.sub("", s.text).lower().startswith(_STEP_OPENERS))
    run = marked[first:]
    while run and run[-1].end - run[0].start > SHAPES["image_carousel"].max_s:
        run.pop()
    if len(run) < 3:
        return None
    start, end = run[0].start, min(run[-1].end, duration)
    i = max(0, bisect.bisect_right([s.start for s in a.segments], start + 1e-6) - 1)
    j = max(i, bisect.bisect_left([s.end for s in a.segments], end - 1e-6))
    j = min(j, len(a.segments) - 1)
    return _Window(i, j, round(a.segments[i].start, 3), round(min(a.segments[j].end, duration), 3), float("inf"))


def _idea(a: _Analysis, kind: str, w: _Window, style: Style, *, analysed: bool, index: int) -> Idea:
    passage = [s for s in a.sentences if w.start <= s.mid <= w.end] or [
        s for s in a.sentences if s.end > w.start and s.start < w.end
    ]
    # A passage that names no topic twice is still titled by its best noun phrase said once ("bank app").
    keywords = passage_phrases(a, passage, 3) or passage_phrases(a, passage, 1, once=True)
    steps = sum(1 for s in passage if step_body(s.text)) if gives_steps(passage) else 0
    title = _cap(_title(kind, keywords, steps=steps, seconds=w.end - w.start, index=index))
    snippet = " ".join(s.text for s in passage) or " ".join(
        clean_text(s.text) for s in a.segments[w.first : w.last + 1]
    )
    segs = a.segments[w.first : w.last + 1]
    words = sum(len(s.text.split()) for s in segs)
    reason = (
        f"A strong passage about {_join(keywords) or 'the main topic'}; {words / max(w.end - w.start, 1):.1f} words/s"
    )
    scores = [x for x in a.interval[w.first : w.last + 1] if x is not None]
    if analysed and scores:
        reason += f"; interval score {100 * max(scores):.0f}"
    return Idea(
        kind=kind,
        title=shorten(title, TITLE_MAX),
        snippet=shorten(snippet, 1200),
        start=w.start,
        end=w.end,
        reason=reason + ".",
        index=index,
    )


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# Spoken glue that reads badly in print: a leading "So," "Well," "Yeah," and asides such as ", you know,".
_LEAD_RE = re.compile(r"^(?:(?:so|well|right|yeah|okay|ok|now|and|honestly|totally|exactly)\b,?\s+)+", re.IGNORECASE)
_ASIDE_RE = re.compile(r",\s*(?:you know|i mean|like|honestly|basically|literally)\s*(?=[,.!?])", re.IGNORECASE)
# Markers of a real sequence of steps; "first"/"then" inside a sentence do not count.
_STEP_RE = re.compile(
    r"^(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|then|next|after that|finally|lastly|"
    r"step (?:one|two|three|four|five|six|\d+)|\d+[.)])\b[,:]?\s*",
    re.IGNORECASE,
)
_STEP_OPENERS = ("first", "firstly", "step one", "step 1", "1.", "1)")
# Repeated runs of 1–5 words ("what a goal, what a goal", "the the"): said once in print.
_REPEAT_PHRASE_RE = re.compile(r"\b((?:[\w']+\W+){0,4}?[\w']+)(?:[,;]?\s+\1\b)+", re.IGNORECASE)
# A clause opening like this leans on another one: alone it is a fragment ("When the tokens do not match").
_DEPENDENT_RE = re.compile(
    r"^(?:when|whenever|if|unless|because|since|although|though|while|whereas|as|like|so that|and|but|or|"
    r"which|who|that|where|until|before|after)\b",
    re.IGNORECASE,
)
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty sixty "
    "seventy eighty ninety hundred thousand million half first second third".split()
)
INTERJECTIONS = frozenset("wow amazing incredible unbelievable insane huge massive brilliant stunning".split())


def say_once(text: str) -> str:
    """`text` with a run of words said twice in a row said once ("what a goal, what a goal that is")."""
    return _REPEAT_PHRASE_RE.sub(r"\1", text)


def printable(text: str) -> str:
    """A spoken sentence as it would be printed: no leading "So," or asides, no repeated runs, a capital
    first and a full stop last."""
    text = say_once(_ASIDE_RE.sub("", text))
    text = _LEAD_RE.sub("", text).strip()
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    if not SENTENCE_END.search(text):
        text = text.rstrip(",;:- ") + "."
    return text


def step_body(text: str) -> str | None:
    """The sentence without its step marker ("First, install it." → "Install it."), or None if it has none."""
    m = _STEP_RE.match(_LEAD_RE.sub("", text))
    if not m:
        return None
    rest = _LEAD_RE.sub("", text)[m.end() :].strip()
    return printable(rest) if len(rest.split()) >= 3 else None


def gives_steps(sentences: list[_Sentence]) -> bool:
    """The speaker really lists steps: at least three sentences open with a step marker, one of them an
    opener ("first", "step one", "1.")."""
    marked = [s for s in sentences if step_body(s.text)]
    opener = any(_LEAD_RE.sub("", s.text).lower().startswith(_STEP_OPENERS) for s in marked)
    return len(marked) >= 3 and opener


def _said(a: _Analysis, phrase: str) -> int:
    return a.lowered.count(" " + phrase.lower() + " ")


def passage_phrases(a: _Analysis, sentences: list[_Sentence], n: int, *, once: bool = False) -> list[str]:
    """The passage's key phrases, best first, as written: YAKE phrases (see analysis.keywords.key_phrases)
    that are topics of the whole video (a word with weight, a phrase said at least twice or a name), then
    the tf-idf terms. Numbers and interjections are not topics, nor are verb pairs, adverbs and generic
    words (ideas/topics.py). `once`: a phrase said once will do."""
    text = " ".join(s.text for s in sentences)
    out: list[str] = []

    def ok(term: str) -> bool:
        words = term.split()
        if set(words) & (NUMBER_WORDS | INTERJECTIONS) or words[-1] in NOT_TOPICS or words[0] in NOT_TOPICS:
            return False
        if any(w.endswith("ly") for w in words):
            return False
        if any(set(words) & set(t.lower().split()) for t in out):
            return False
        # A noun phrase that names something: not "savings happen", "beaten" or "system" (ideas/topics.py).
        if not is_topic(as_written(term, text), a.text):
            return False
        if len(words) == 1:
            return a.weights.get(words[0], 0.0) > 0.0 and (once or _said(a, term) >= 2 or is_name(term, text))
        return once or _said(a, term) >= 2 or is_name(term, text)

    # One fixed limit, so the cached phrases of a passage serve its title, its piece and its slides alike.
    for term in key_phrases(text, limit=30) + _rank_terms(a, sentences, n * 2):
        if ok(term):
            out.append(as_written(term, text))
        if len(out) == n:
            break
    return out


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(kind: str, phrases: list[str], *, steps: int, seconds: float, index: int) -> str:
    """A short headline from key phrases, never a sentence of the transcript."""
    p = phrases[0] if phrases else ""
    q = phrases[1] if len(phrases) > 1 else ""
    if not p:
        return {"reel": "The moment to watch", "image_carousel": "The key points", "tweet": "Worth sharing"}[kind]
    if kind == "reel":
        options = [f"{_cap(p)} in {seconds:.0f} seconds", f"What to know about {p}", f"{_cap(p)}, explained"]
        if q:
            options.append(f"{_cap(p)} and {q}: the short version")
    elif kind == "image_carousel":
        if steps:
            options = [f"{_cap(p)} in {steps} steps", f"{steps} steps: {p}"]
        else:
            options = [f"{_cap(p)}: the key points", f"What to know about {p}"]
            if q:
                options.append(f"{_cap(p)} and {q}, in short")
    else:
        options = [f"On {p}", f"{_cap(p)}: one takeaway", f"A line on {p}"]
    return options[index % len(options)]


def _lead(style: Style, point: str, room: int) -> str:
    template = LEADS.get(style.preset)
    if template is None or style.preset == CUSTOM:
        template = f"For {shorten(style.audience, 60)}: {{point}}"
    fixed = len(template) - len("{point}")
    return template.format(point=shorten(point, max(room - fixed, 20)))


def _hashtags(style: Style, keywords: list[str]) -> list[str]:
    """The style's tag, then one per key phrase as said: "dial plan" → #DialPlan, "Asterisk" → #Asterisk.
    `keywords` come from `passage_phrases`, so every tag is a word or phrase the speaker really used."""
    tags = [style.hashtag] if style.hashtag else []
    for term in keywords:
        words = [w for w in re.split(r"\W+", term) if w]
        if not words or set(w.lower() for w in words) & (NUMBER_WORDS | INTERJECTIONS):
            continue
        body = words[0] if len(words) == 1 else "".join(w if w.isupper() else w.capitalize() for w in words)
        tag = "#" + body
        if 2 < len(tag) <= HASHTAG_MAX and tag.lower() not in (t.lower() for t in tags):
            tags.append(tag)
    return tags[:5]


def _heading(sentence: _Sentence, a: _Analysis, phrases: list[str], taken: set[str]) -> str:
    """A short heading for a slide: a key phrase of the passage (`phrases`) or of the sentence that the
    sentence says and no other slide uses; the slide's text then explains it (so the heading never repeats
    the text's opening words)."""
    lowered = " " + " ".join(_WORD_RE.findall(sentence.text.lower())) + " "
    own = [
        t
        for t in _rank_terms(a, [sentence], 3)
        if not set(t.split()) & (NUMBER_WORDS | NOT_TOPICS | INTERJECTIONS)
        and not t.endswith("ly")
        and is_topic(as_written(t, sentence.text), a.text)
    ]
    # The passage's phrases that this sentence says, the sentence's own weightiest term first among them.
    said = [p for p in phrases if f" {p.lower()} " in lowered]
    said.sort(key=lambda p: 0 if own and own[0] in p.lower().split() else 1)
    # Then the sentence's own noun phrases ("glymphatic system" said once), before its single words.
    phrases_here = [
        t for t in key_phrases(sentence.text, limit=4) if " " in t and is_topic(as_written(t, sentence.text), a.text)
    ]
    for term in said + phrases_here + own:
        if term.lower() not in taken and not any(term.lower() in t or t in term.lower() for t in taken):
            taken.add(term.lower())
            return _cap(as_written(term, sentence.text))
    return ""


def offline_piece(idea: Idea, segments: list[Segment], *, style: Style, duration: float) -> dict[str, Any]:
    """The piece for one idea, built from the transcript's own words; always passes `validate_piece`."""
    a = _analyse_cached(tuple(segments))
    passage = [s for s in a.sentences if idea.start <= s.mid <= idea.end] or [
        s for s in a.sentences if s.end > idea.start and s.start < idea.end
    ]
    if not passage:
        # An idea from a model (or a cache) whose range holds no speech: work from its snippet.
        text = tidy(idea.snippet or idea.title)
        passage = [
            _Sentence(text=t, start=idea.start, end=idea.end, tokens=tokens(t))
            for t in SENTENCE_GAP.split(text)
            if t.strip()
        ] or [_Sentence(text=idea.title, start=idea.start, end=idea.end, tokens=tokens(idea.title))]
        for s in passage:
            s.score = sum(a.weights.get(w, 0.0) for w in set(s.tokens)) / math.sqrt(max(len(s.text.split()), 1))
    best = max(passage, key=lambda s: (s.score, -s.start))
    keywords = passage_phrases(a, passage, 4)
    cta = style.call_to_action
    hashtags = _hashtags(style, keywords)
    if _names_nothing(idea.title, a):
        # An idea from a model titled "Moment 1": the piece gets a headline from the passage's key phrases.
        titled = keywords or passage_phrases(a, passage, 1, once=True)
        if titled:
            steps = sum(1 for s in passage if step_body(s.text)) if gives_steps(passage) else 0
            title = _cap(_title(idea.kind, titled, steps=steps, seconds=idea.end - idea.start, index=idea.index))
            idea = replace(idea, title=shorten(title, TITLE_MAX))
    if idea.kind == "reel":
        piece = _reel(idea, passage, best, keywords, style, hashtags)
    elif idea.kind == "image_carousel":
        piece = _carousel(idea, a, passage, keywords, style, hashtags)
    else:
        text = shorten(printable(best.text), TWEET_MAX - len(cta) - 1) + " " + cta
        piece = {
            "kind": "tweet",
            "title": idea.title,
            "tweet": shorten(text, TWEET_MAX),
            "thread": _thread([s for s in passage if s is not best]),
            "hashtags": hashtags[:3],
        }
    checked, errors = validate_piece(idea.kind, piece, idea=idea, duration=duration)
    if checked is None:  # pragma: no cover - a bug here, not bad input
        raise AssertionError(f"offline {idea.kind} failed validation: {errors}")
    return checked


def _names_nothing(title: str, a: _Analysis) -> bool:
    """The title names no topic the speaker talks about ("Moment 1", "Worth sharing")."""
    from .quality import title_topic_problem, words

    return title_topic_problem(title, words(a.text), a.text) is not None


def _reel(
    idea: Idea, passage: list[_Sentence], best: _Sentence, keywords: list[str], style: Style, hashtags: list[str]
) -> dict[str, Any]:
    hook = _hook(passage, best, idea.title)
    others = sorted((s for s in passage if s is not best), key=lambda s: (-s.score, s.start))
    point = printable((others[0] if others else best).text)
    caption = _lead(style, point, CAPTION_MAX - len(style.call_to_action) - 1) + " " + style.call_to_action
    visuals = [
        f"Open on the speaker at {mmss(idea.start)} with the hook on screen: “{hook}”",
        "Burned-in captions for every spoken line; most people watch without sound.",
    ]
    for word in keywords[:2]:
        said = next((s for s in passage if word in s.text.lower()), None)
        if said is not None:
            visuals.append(f"Pop-up text “{word.capitalize()}” at {mmss(said.start)}, when it is first said.")
    extra = VISUAL_EXTRAS.get(style.preset)
    if extra:
        visuals.append(extra.format(kw=(keywords or ["the idea"])[0], at=mmss(best.start)))
    visuals.append(f"End card: {style.call_to_action}")
    return {
        "kind": "reel",
        "title": idea.title,
        "hook": hook,
        "caption": shorten(caption, CAPTION_MAX),
        "script": shorten(" ".join(s.text for s in passage), SCRIPT_MAX),
        "visual_suggestions": visuals,
        "hashtags": hashtags,
        "start": idea.start,
        "end": idea.end,
    }


def _hook(passage: list[_Sentence], best: _Sentence, title: str) -> str:
    """On-screen text for a reel's first seconds: the strongest whole sentence or clause that fits
    HOOK_MAX (never one cut with an ellipsis), else the title."""
    for s in sorted(passage, key=lambda s: (-s.score, s.start)):
        clauses = [printable(c) for c in _CLAUSE_RE.split(s.text) if not _DEPENDENT_RE.match(c.strip())]
        for text in [printable(s.text), *clauses]:
            if 3 <= len(text.split()) and len(text) <= HOOK_MAX:
                return text.rstrip(".")
    return shorten(title, HOOK_MAX)


def _slide_text(text: str) -> str:
    """A whole printed sentence that fits a slide: cut at the last clause that fits, never mid-clause."""
    text = printable(text)
    if len(text) <= SLIDE_TEXT_MAX:
        return text
    clauses = _CLAUSE_RE.split(text)
    out = ""
    for clause in clauses:
        longer = f"{out}, {clause}" if out else clause
        if len(longer) + 1 > SLIDE_TEXT_MAX:
            break
        out = longer
    return printable(out) if len(out.split()) >= 4 else ""


def _carousel(
    idea: Idea, a: _Analysis, passage: list[_Sentence], keywords: list[str], style: Style, hashtags: list[str]
) -> dict[str, Any]:
    """Slides that are whole sentences. When the speaker lists steps (first … then … finally), the slides
    are those steps, labelled "Step n"; otherwise the passage's strongest sentences in order, each under
    its own key phrase."""
    pool = list(passage)
    if len(pool) < SLIDES_MIN:
        # Borrow the sentences right after (then before) the passage, in order.
        after = [s for s in a.sentences if s.start >= idea.end]
        before = [s for s in a.sentences if s.end <= idea.start][::-1]
        pool += (after + before)[: SLIDES_MIN - len(pool)]
    slides: list[dict[str, str]] = []
    taken: set[str] = set()
    phrases = passage_phrases(a, pool, 12)
    if gives_steps(pool):
        steps = [(s, step_body(s.text)) for s in sorted(pool, key=lambda s: s.start)]
        for n, (s, body) in enumerate(((s, b) for s, b in steps if b), 1):
            if len(slides) == SLIDES_MAX:
                break
            text = _slide_text(body or "")
            if text:
                heading = _heading(s, a, phrases, taken)
                label = f"Step {n}: {heading}" if heading else f"Step {n}"
                slides.append({"heading": shorten(label, SLIDE_HEADING_MAX), "text": text})
    else:

        def fits(s: _Sentence) -> bool:
            return len(printable(s.text).split()) >= 5 and bool(_slide_text(s.text))

        usable = [s for s in pool if fits(s)]
        if len(usable) < SLIDES_MIN:
            # Too few whole sentences here: the nearest ones around the passage, as the first borrow did.
            near = sorted(
                (s for s in a.sentences if s not in usable and fits(s)),
                key=lambda s: min(abs(s.start - idea.end), abs(s.end - idea.start)),
            )
            usable += near[: SLIDES_MIN - len(usable)]
        chosen = sorted(usable, key=lambda s: (-s.score, s.start))[:SLIDES_MAX]
        for s in sorted(chosen, key=lambda s: s.start):
            heading = _heading(s, a, phrases, taken) or "In their words"
            slides.append({"heading": shorten(heading, SLIDE_HEADING_MAX), "text": _slide_text(s.text)})
    if len(slides) < SLIDES_MIN and keywords:
        slides.append({"heading": "Key words", "text": f"Words to remember: {_join(keywords)}."})
    while len(slides) < SLIDES_MIN:
        slides.append({"heading": "Your next step", "text": style.call_to_action})
    what = "steps" if slides and slides[0]["heading"].startswith("Step 1") else "points"
    point = f"{len(slides)} {what} on {_join(keywords[:2]) or 'this topic'}, in the speaker's own words."
    caption = _lead(style, point, CAPTION_MAX - len(style.call_to_action) - 1) + " " + style.call_to_action
    return {
        "kind": "image_carousel",
        "title": idea.title,
        "caption": shorten(caption, CAPTION_MAX),
        "slides": slides,
        "hashtags": hashtags,
    }


def _thread(sentences: list[_Sentence], max_tweets: int = 4) -> list[str]:
    """Pack the remaining sentences, in order, into tweets of at most THREAD_TWEET_MAX characters."""
    tweets: list[str] = []
    current = ""
    for s in sorted(sentences, key=lambda s: s.start):
        text = shorten(printable(s.text), THREAD_TWEET_MAX)
        if current and len(current) + 1 + len(text) <= THREAD_TWEET_MAX:
            current += " " + text
            continue
        if current:
            tweets.append(current)
            if len(tweets) == max_tweets:
                return tweets
        current = text
    if current and len(tweets) < max_tweets:
        tweets.append(current)
    return tweets
