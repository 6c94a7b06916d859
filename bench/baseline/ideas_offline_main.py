"""[bench baseline: a frozen copy of this writer as on main at 7eeb111, before issue 11; not used by the app]

Ideas and pieces with no network and no key: extractive, templated, deterministic.

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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from media_pipeline.ideas.schema import (
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
from media_pipeline.ideas.styles import CUSTOM, Style
from media_pipeline.transcript.types import Segment

# Part of the cache key of offline results: bump when the algorithm's output changes.
OFFLINE_VERSION = "offline-1"

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

_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")
_SENTENCE_END_RE = re.compile(r"[.!?…][\"'”’)\]]*$")
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
        fragments = [f for f in _SENTENCE_SPLIT_RE.split(text) if f.strip()]
        offset = 0
        for fragment in fragments:
            frag_start = seg.start + span * offset / max(len(text), 1)
            offset += len(fragment) + 1
            frag_end = seg.start + span * min(offset, len(text)) / max(len(text), 1)
            if start is None:
                start = frag_start
            parts.append(fragment)
            if _SENTENCE_END_RE.search(fragment):
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

    for kind in plan_kinds(count):
        # A kind that has no room left gives way to the most forgiving one (a tweet needs one sentence).
        for candidate in (kind, "tweet"):
            window = next((w for w in ranked[candidate] if free(w)), None)
            if window is not None:
                chosen.append((candidate, window))
                break
    return [_idea(a, kind, w, style, analysed=bool(analyses), index=n) for n, (kind, w) in enumerate(chosen)]


def _idea(a: _Analysis, kind: str, w: _Window, style: Style, *, analysed: bool, index: int) -> Idea:
    keywords = _top_keywords(a, w.start, w.end, 3)
    passage = [s for s in a.sentences if w.start <= s.mid <= w.end] or [
        s for s in a.sentences if s.end > w.start and s.start < w.end
    ]
    best = max(passage, key=lambda s: (s.score, -s.start), default=None)
    if kind == "reel":
        title = f"{_join(keywords[:2]) or 'This moment'} in {w.end - w.start:.0f} seconds"
    elif kind == "image_carousel":
        title = f"Key points on {_join(keywords[:3]) or 'this topic'}"
    else:
        lead = keywords[0] if keywords else "Worth sharing"
        title = f"{lead}: {best.text}" if best else lead
    title = title[:1].upper() + title[1:]
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


def _lead(style: Style, point: str, room: int) -> str:
    template = LEADS.get(style.preset)
    if template is None or style.preset == CUSTOM:
        template = f"For {shorten(style.audience, 60)}: {{point}}"
    fixed = len(template) - len("{point}")
    return template.format(point=shorten(point, max(room - fixed, 20)))


def _hashtags(style: Style, keywords: list[str]) -> list[str]:
    tags = [style.hashtag] if style.hashtag else []
    for term in keywords:
        words = term.split()
        tag = "#" + re.sub(r"\W", "", words[0] if len(words) == 1 else "".join(w.capitalize() for w in words))
        if 2 < len(tag) <= HASHTAG_MAX and tag.lower() not in (t.lower() for t in tags):
            tags.append(tag)
    return tags[:5]


def _heading(sentence: _Sentence, a: _Analysis) -> str:
    """A short phrase for a slide: the sentence's opening clause when it is short, else its key words."""
    clause = _CLAUSE_RE.split(sentence.text, maxsplit=1)[0].strip().rstrip(".!?…")
    if 2 <= len(clause.split()) <= 8 and len(clause) <= 60:
        return clause
    keywords = _rank_terms(a, [sentence], 2)
    if keywords:
        return _join(keywords).capitalize()
    return shorten(" ".join(sentence.text.split()[:6]), 50)


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
            for t in _SENTENCE_SPLIT_RE.split(text)
            if t.strip()
        ] or [_Sentence(text=idea.title, start=idea.start, end=idea.end, tokens=tokens(idea.title))]
        for s in passage:
            s.score = sum(a.weights.get(w, 0.0) for w in set(s.tokens)) / math.sqrt(max(len(s.text.split()), 1))
    best = max(passage, key=lambda s: (s.score, -s.start))
    keywords = _top_keywords(a, idea.start, idea.end, 4) or _rank_terms(a, passage, 4)
    cta = style.call_to_action
    hashtags = _hashtags(style, keywords)
    if idea.kind == "reel":
        piece = _reel(idea, passage, best, keywords, style, hashtags)
    elif idea.kind == "image_carousel":
        piece = _carousel(idea, a, passage, keywords, style, hashtags)
    else:
        text = shorten(best.text, TWEET_MAX - len(cta) - 1) + " " + cta
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


def _reel(
    idea: Idea, passage: list[_Sentence], best: _Sentence, keywords: list[str], style: Style, hashtags: list[str]
) -> dict[str, Any]:
    hook = shorten(best.text.rstrip("."), HOOK_MAX)
    others = sorted((s for s in passage if s is not best), key=lambda s: (-s.score, s.start))
    point = (others[0] if others else best).text
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


def _carousel(
    idea: Idea, a: _Analysis, passage: list[_Sentence], keywords: list[str], style: Style, hashtags: list[str]
) -> dict[str, Any]:
    pool = list(passage)
    if len(pool) < SLIDES_MIN:
        # Borrow the sentences right after (then before) the passage, in order.
        after = [s for s in a.sentences if s.start >= idea.end]
        before = [s for s in a.sentences if s.end <= idea.start][::-1]
        pool += (after + before)[: SLIDES_MIN - len(pool)]
    if len(pool) < SLIDES_MIN:
        # A very short transcript: split sentences into clauses.
        pool = [
            _Sentence(text=tidy(c), start=s.start, end=s.end, tokens=tokens(c), score=s.score)
            for s in pool
            for c in _CLAUSE_RE.split(s.text)
            if len(c.split()) >= 2
        ] or pool
    chosen = sorted(pool, key=lambda s: (-s.score, s.start))[: min(max(len(pool), SLIDES_MIN), SLIDES_MAX)]
    chosen.sort(key=lambda s: s.start)
    slides = []
    for n, s in enumerate(chosen, 1):
        heading = _heading(s, a)
        if style.preset == "educator":
            heading = f"Step {n}: {heading}"
        slides.append({"heading": shorten(heading, SLIDE_HEADING_MAX), "text": shorten(s.text, SLIDE_TEXT_MAX)})
    if len(slides) < SLIDES_MIN and keywords:
        slides.append({"heading": "Key words", "text": ", ".join(k.capitalize() for k in keywords) + "."})
    while len(slides) < SLIDES_MIN:
        slides.append({"heading": "Your next step", "text": style.call_to_action})
    point = f"{len(slides)} points on {_join(keywords[:2]) or 'this topic'}, in the speaker's own words."
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
        text = shorten(s.text, THREAD_TWEET_MAX)
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
