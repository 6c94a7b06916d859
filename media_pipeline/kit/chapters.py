"""Chapters from a transcript: where the topic changes, and a short key phrase naming each part.

The rule YouTube applies to a chapter list in a description: the first chapter at 0:00, at least three,
each at least 10 s long. We keep the first and last; with fewer than three the list is still made (it is
useful in a player) and `youtube_ready` says YouTube will not show it.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..analysis.keywords import as_written
from ..ideas.offline import mmss, pairs, tokens
from ..ideas.topics import is_topic
from ..transcript.types import Segment

MIN_CHAPTER_S = 10.0  # YouTube's shortest chapter
YOUTUBE_MIN_CHAPTERS = 3
TITLE_MAX = 48  # a chapter line reads at a glance under the player
INTRO = "Intro"
# Words of a pause-less boundary: a bonus for a boundary where the speaker also paused.
PAUSE_S = 0.8


@dataclass(frozen=True)
class Chapter:
    start: float
    end: float
    title: str
    keywords: tuple[str, ...] = ()
    score: float | None = None  # the mean interest score of the intervals it covers, when analysed

    def as_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "title": self.title,
            "keywords": list(self.keywords),
            "score": None if self.score is None else round(self.score, 1),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Chapter:
        return cls(
            start=float(d["start"]),
            end=float(d["end"]),
            title=str(d["title"]),
            keywords=tuple(d.get("keywords") or ()),
            score=d.get("score"),
        )


@dataclass(frozen=True)
class _Unit:
    """One transcript segment with its terms (content words and adjacent content-word pairs)."""

    start: float
    end: float
    terms: Counter[str]
    gap_before: float
    text: str = ""


def _units(segments: Iterable[Segment]) -> list[_Unit]:
    segs = sorted((s for s in segments if s.text.strip() and s.end >= s.start), key=lambda s: s.start)
    out: list[_Unit] = []
    previous_end = 0.0
    for seg in segs:
        terms: Counter[str] = Counter(tokens(seg.text))
        terms.update(" ".join(p) for p in pairs(seg.text))
        out.append(_Unit(seg.start, seg.end, terms, max(0.0, seg.start - previous_end), seg.text))
        previous_end = max(previous_end, seg.end)
    return out


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _block(units: list[_Unit], idf: dict[str, float], extra: Counter[str]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for u in units:
        counts.update(u.terms)
    counts.update(extra)
    return {t: c * idf.get(t, 1.0) for t, c in counts.items()}


def _interval_at(analyses: list[dict], t: float) -> dict | None:
    for a in analyses:
        if float(a.get("start", 0)) <= t < float(a.get("end", 0)):
            return a
    return None


def _analysis_terms(analyses: list[dict], start: float, end: float) -> Counter[str]:
    """The interval analysis' keywords of the intervals overlapping [start, end) count as terms too."""
    out: Counter[str] = Counter()
    for a in analyses:
        if float(a.get("end", 0)) > start and float(a.get("start", 0)) < end:
            for kw in a.get("keywords") or []:
                out.update(tokens(str(kw)))
    return out


def comparison_window(duration: float) -> float:
    """Seconds of speech compared on each side of a candidate: a tenth of the video, 12–90 s."""
    return max(12.0, min(90.0, duration / 10))


def boundary_strengths(
    units: list[_Unit], *, duration: float, analyses: list[dict] | None = None
) -> list[tuple[float, float]]:
    """(time, strength) for every unit start that could begin a chapter.

    Strength is how different the words of the window before a unit are from those of the window after it
    (1 − cosine of tf-idf vectors, TextTiling's idea), plus a little when the speaker paused there and when
    the interval scores on the two sides differ (a calm explanation turning into a lively demo).
    """
    analyses = analyses or []
    n = len(units)
    df: Counter[str] = Counter()
    for u in units:
        df.update(set(u.terms))
    idf = {t: math.log(1 + n / c) for t, c in df.items()}
    window = comparison_window(duration)
    out = []
    for i in range(1, n):
        t = units[i].start
        left = [u for u in units[:i] if u.start >= t - window]
        right = [u for u in units[i:] if u.start < t + window]
        sim = _cosine(
            _block(left, idf, _analysis_terms(analyses, t - window, t)),
            _block(right, idf, _analysis_terms(analyses, t, t + window)),
        )
        strength = 1.0 - sim
        if units[i].gap_before >= PAUSE_S:
            strength += 0.05
        before, after = _interval_at(analyses, t - window / 2), _interval_at(analyses, t + window / 2)
        if before and after and before is not after:
            diff = abs(float(before.get("score") or 0) - float(after.get("score") or 0))
            strength += 0.1 * min(diff, 50.0) / 50.0
        out.append((t, strength))
    return out


def _pick(strengths: list[tuple[float, float]], *, duration: float, min_gap: float, most: int) -> list[float]:
    """The strongest boundaries, each `min_gap` from the others, from 0:00 and from the end.

    A boundary must stand out: above the mean strength by half a standard deviation and above 0.6 (windows
    sharing under ~40 % of their weighted words), so a video on one topic gets one chapter, not ten.
    """
    if not strengths:
        return []
    values = [s for _, s in strengths]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    floor = max(0.6, mean + 0.5 * std) if len(values) > 4 else 0.6
    # Only peaks: a candidate a little after a real change still compares a mixed window with a clean one and
    # scores high; the change itself scores higher within half a window.
    reach = comparison_window(duration) / 2
    peaks = [(t, s) for t, s in strengths if all(s >= s2 for t2, s2 in strengths if abs(t2 - t) <= reach and t2 != t)]
    chosen: list[float] = []
    for t, s in sorted(peaks, key=lambda p: (-p[1], p[0])):
        if s < floor or len(chosen) >= most:
            break
        if t < min_gap or duration - t < min_gap or any(abs(t - c) < min_gap for c in chosen):
            continue
        chosen.append(t)
    return sorted(chosen)


def _title_case(phrase: str) -> str:
    small = {"and", "or", "of", "the", "a", "to", "in", "on", "for", "vs"}
    words = phrase.split()
    return " ".join(w if (i and w in small) else w[:1].upper() + w[1:] for i, w in enumerate(words))


def key_phrases(parts: list[list[_Unit]], index: int, n: int = 2) -> list[str]:
    """The terms that name part `index`: frequent in it, rarer in the other parts. A two-word phrase said
    twice beats its own words; a word already named (or its plural) is not named again. Only noun phrases
    that name something (ideas/topics.py: not "beaten", "build" said as a verb, "exactly" or "system");
    when no term said twice is one, the part's best topic said once."""
    counts: Counter[str] = Counter()
    for u in parts[index]:
        counts.update(u.terms)
    elsewhere: Counter[str] = Counter()
    for j, part in enumerate(parts):
        if j != index:
            for u in part:
                elsewhere.update(set(u.terms))
    total_units = sum(len(p) for p in parts) or 1

    def weight(term: str) -> float:
        c = counts[term]
        idf = math.log(1 + total_units / (1 + elsewhere[term]))
        # A pair said as a unit names the part better than either word alone ("sourdough bread").
        return c * idf * (2.2 if " " in term else 1.0)

    text = " ".join(u.text for u in parts[index])
    whole = " ".join(u.text for part in parts for u in part)
    ranked = sorted(counts, key=lambda t: (-weight(t), -len(t), t))
    frequent = [t for t in ranked if counts[t] >= 2 or (" " not in t and len(parts[index]) <= 2)]
    out: list[str] = []
    for pool in (frequent, ranked):
        covered: set[str] = set()
        for term in pool:
            words = term.split()
            if any(twin(w, c) for w in words for c in covered):
                continue
            # Checked only as far as needed: a long talk has thousands of terms (ideas/topics.py).
            if not is_topic(as_written(term, text), whole):
                continue
            out.append(term)
            covered.update(words)
            if len(out) == n:
                break
        if out:
            break
    return out


def twin(a: str, b: str) -> bool:
    """The same word twice over ("photo"/"photos", "price"/"pricing"): one a prefix of the other, or sharing
    all but the last letter of the shorter one (at least four letters)."""
    if a.startswith(b) or b.startswith(a):
        return True
    common = len(os.path.commonprefix([a, b]))
    return common >= max(4, min(len(a), len(b)) - 1)


def _name(phrases: list[str], text: str = "") -> str:
    if not phrases:
        return ""
    phrases = [as_written(p, text) for p in phrases]  # "PBX", "Asterisk" as the speaker's captions write them
    if len(phrases) > 1 and len(phrases[0]) + len(phrases[1]) + 5 <= TITLE_MAX:
        return _title_case(f"{phrases[0]} and {phrases[1]}")
    return _title_case(phrases[0])[:TITLE_MAX]


def find_chapters(
    segments: list[Segment],
    *,
    duration: float,
    analyses: list[dict] | None = None,
    min_gap: float = MIN_CHAPTER_S,
) -> list[Chapter]:
    """Chapters covering 0 → `duration`: the first at 0:00 named "Intro" (with its topic when it has one),
    then one per topic change at least `min_gap` s from the next. Titles are key phrases of each part.

    1. Every transcript segment is a unit; every unit start is a candidate boundary.
    2. Each candidate gets a strength (`boundary_strengths`): how different the words before and after it are.
    3. The strongest candidates that stand out and keep `min_gap` are kept, at most one per ~45 s.
    4. Each part is named by its distinctive key phrases (`key_phrases`); two parts with the same name are
       merged, since the reader would not see the change either.
    """
    analyses = sorted(analyses or [], key=lambda a: float(a.get("start", 0)))
    units = _units(segments)
    duration = max(duration, max((u.end for u in units), default=0.0))
    if not units or duration <= 0:
        return []
    most = max(2, int(duration // 45))
    starts = [
        0.0,
        *_pick(
            boundary_strengths(units, duration=duration, analyses=analyses),
            duration=duration,
            min_gap=min_gap,
            most=most,
        ),
    ]
    while True:
        parts = [[u for u in units if a <= u.start < b] for a, b in zip(starts, [*starts[1:], math.inf], strict=True)]
        names = [_name(key_phrases(parts, i), " ".join(u.text for u in parts[i])) for i in range(len(parts))]
        repeat = next((i for i in range(1, len(names)) if names[i] and names[i] == names[i - 1]), None)
        if repeat is None:
            break
        del starts[repeat]
    chapters = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else duration
        name = names[i] or f"Part {i + 1}"
        if i == 0:
            name = f"{INTRO}: {names[0]}" if names[0] else INTRO
        scores = [
            float(a["score"])
            for a in analyses
            if isinstance(a.get("score"), int | float) and float(a["end"]) > start and float(a["start"]) < end
        ]
        chapters.append(
            Chapter(
                start=round(start, 3),
                end=round(end, 3),
                title=_shorten(name, TITLE_MAX),
                keywords=tuple(key_phrases(parts, i, 4)),
                score=sum(scores) / len(scores) if scores else None,
            )
        )
    return chapters


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,:;—-") + "…"


def youtube_ready(chapters: list[Chapter]) -> bool:
    """Whether YouTube will show these as chapters: at least three, the first at 0:00, each ≥ 10 s."""
    return (
        len(chapters) >= YOUTUBE_MIN_CHAPTERS
        and chapters[0].start == 0
        and all(c.end - c.start >= MIN_CHAPTER_S for c in chapters)
    )


def chapter_list(chapters: list[Chapter]) -> str:
    """The lines to paste into a YouTube description: "0:00 Intro", "1:25 Bread Dough", …"""
    long = bool(chapters) and chapters[-1].end >= 3600
    return "\n".join(f"{_stamp(c.start, long)} {c.title}" for c in chapters)


def _stamp(seconds: float, long: bool) -> str:
    # Floor, not round: a chapter must not be announced after its first words.
    s = int(seconds)
    if long:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return mmss(s)


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def to_webvtt(chapters: list[Chapter]) -> str:
    """WebVTT chapters for a `<track kind="chapters">`: one cue per chapter, its title as the text."""
    out = ["WEBVTT", ""]
    for i, c in enumerate(chapters, 1):
        title = " ".join(c.title.replace("-->", "→").split())
        out += [str(i), f"{_vtt_time(c.start)} --> {_vtt_time(c.end)}", title, ""]
    return "\n".join(out)


_META_SPECIAL = re.compile(r"([=;#\\\n])")


def to_ffmetadata(chapters: list[Chapter]) -> str:
    """ffmpeg's FFMETADATA1 text with one [CHAPTER] per chapter (millisecond time base); = ; # \\ and
    newlines escaped as the format requires."""
    out = [";FFMETADATA1"]
    for c in chapters:
        title = _META_SPECIAL.sub(r"\\\1", c.title)
        out += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={int(round(c.start * 1000))}",
            f"END={int(round(c.end * 1000))}",
            f"title={title}",
        ]
    return "\n".join(out) + "\n"
