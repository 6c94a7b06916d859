"""[bench baseline: a frozen copy of this writer as on main at 7eeb111, before issue 11; not used by the app]

Commentary without a network: sentences built from the interval's events and its transcript only.

Every sentence is backed by something measured — a cut, a loud passage, a silence, a speech start — or
quotes the transcript; nothing is invented. Text is plain for TTS: times as words ("at 1 minute 12"),
no symbols a speech engine would spell out.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from media_pipeline.analysis.events import IntervalAnalysis
from media_pipeline.analysis.keywords import EXCITING, tokens
from media_pipeline.commentary.budget import count_words, fit_to_budget
from media_pipeline.commentary.styles import Style, resolve_style
from media_pipeline.transcript.types import Segment

QUOTE_MAX_WORDS = 16
QUOTE_MIN_WORDS = 4
SILENCE_WORTH_SAYING = 1.5  # seconds
STEADY_SPEECH = 0.7  # speech ratio above which speech starts and stops are not mentioned
VARIANTS = 6  # phrasings tried before giving up on differing from `previous`

# {at} is "at 12 seconds"; {At} the same capitalised at the start of a sentence.
CUT = [
    "A cut to a new shot {at}.",
    "The picture switches to a new scene {at}.",
    "{At}, the view cuts to a new shot.",
    "New shot {at}.",
]
CUTS = [
    "{n} cuts between {a} and {b}.",
    "The editing gets busy, with {n} cuts from {a} to {b}.",
    "Shot after shot: {n} cuts between {a} and {b}.",
]
LOUD = [
    "It gets loud {at}.",
    "The sound swells {at}.",
    "A burst of noise {at}.",
    "The volume jumps {at}.",
]
LOUD_LONG = [
    "The noise builds {at} and holds for {d} seconds.",
    "It gets loud {at}, for about {d} seconds.",
    "{At}, the sound surges for {d} seconds.",
]
SILENCE = [
    "It goes quiet {at} for about {d} seconds.",
    "Silence {at}, about {d} seconds of it.",
    "{At}, the sound drops out for {d} seconds.",
]
SPEECH_START = ["Someone starts talking {at}.", "Speech picks up {at}.", "{At}, a voice comes in."]
SPEECH_STOP = ["The talking stops {at}.", "The speech pauses {at}.", "{At}, the talking breaks off."]
QUOTE = ["You can hear: {q}", "Someone says: {q}", "In their words: {q}", "The line here: {q}"]
MENTIONS = ["The talk mentions {k}.", "Words that come up: {k}.", "It touches on {k}."]
MAIN_POINT = ["The main point here: {q}", "In short: {q}", "What matters in this part: {q}", "The key idea: {q}"]
KEY_TERMS = ["Key terms: {k}.", "It centres on {k}.", "Listen for {k}."]
HIGHLIGHT_LOUD = [
    "The big moment comes {at}, when it gets loud.",
    "Watch for the moment {at}, when the sound erupts.",
    "{At}, the noise peaks.",
]
HIGHLIGHT_CUTS = ["The pace picks up {at}, with {n} cuts in a row.", "A run of {n} cuts starts {at}."]
HIGHLIGHT_QUOTE = ["The line to remember: {q}", "Best moment: {q}", "Here it is: {q}"]
NOTHING = ["Nothing much changes in this stretch.", "A calm stretch with little going on.", "Not much happens here."]
NOTHING_SILENT = ["A silent stretch, nothing to report.", "All quiet here.", "No sound and little change here."]
# Events that count as something happening (a keyword alone, or a silence, is not enough to talk about).
HAPPENINGS = ("scene_change", "loud", "speech_start", "speech_stop")


@dataclass(frozen=True)
class Piece:
    t: float  # where in the video it happens (for time order)
    priority: float  # higher is said first when the budget is short
    text: str


def spoken_time(t: float) -> str:
    """12 → "12 seconds", 72 → "1 minute 12", 120 → "2 minutes", 3725 → "1 hour 2 minutes 5"."""
    total = max(0, int(round(t)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    parts = []
    if h:
        parts.append(f"{h} hour{'s' if h != 1 else ''}")
    if m:
        parts.append(f"{m} minute{'s' if m != 1 else ''}")
    if not parts:
        return f"{s} second{'s' if s != 1 else ''}"
    if s:
        parts.append(str(s))
    return " ".join(parts)


def _at(t: float) -> str:
    return "at the very start" if t < 1 else f"at {spoken_time(t)}"


def _pick(options: list[str], *, key: str, index: int, salt: int) -> str:
    # crc32, not hash(): the choice must not change between processes.
    return options[(zlib.crc32(key.encode()) + index + salt) % len(options)]


def _fill(template: str, **values: object) -> str:
    at = values.get("at")
    if isinstance(at, str):
        values.setdefault("At", at[:1].upper() + at[1:])
    text = template.format(**values)
    return text[:1].upper() + text[1:]


def _seconds(d: float) -> str:
    return str(max(1, int(round(d))))


def tts_clean(text: str) -> str:
    """Plain words and ordinary punctuation only: no brackets, symbols, URLs or markup for TTS to spell."""
    text = re.sub(r"https?://\S+|www\.\S+", " ", text)
    # [Music], (applause), tags. A bracket cannot contain its own opener, so an unclosed run of "(" is not
    # scanned to the end once per "(" (quadratic time).
    text = re.sub(r"\[[^\[\]]*\]|\([^()]*\)|\{[^{}]*\}|<[^<>]*>", " ", text)
    text = text.replace("&", " and ").replace("%", " percent").replace("+", " plus ").replace("@", " at ")
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[\u2013\u2014]", ", ", text)
    text = re.sub(r"[^A-Za-z0-9\u00C0-\u024F .,!?';:'-]", " ", text)
    text = re.sub(r"(?<!\s)\s+([.,!?;:])", r"\1", text)  # from the start of a run only: linear on long runs
    text = re.sub(r"([.,!?;:])\1+", r"\1", text)
    return " ".join(text.split()).strip(" ,;:-")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _spoken_sentences(segments: list[Segment], start: float, end: float) -> list[tuple[float, str]]:
    """(time, sentence) for speech whose segment is mostly inside [start, end)."""
    out = []
    for s in sorted(segments, key=lambda s: s.start):
        if not start <= (s.start + s.end) / 2 < end:
            continue
        for sentence in _sentences(tts_clean(s.text)):
            out.append((max(start, s.start), sentence))
    return out


def key_phrases(analysis: IntervalAnalysis, segments: list[Segment], *, limit: int = 2) -> list[tuple[float, str]]:
    """The most keyword-dense sentences of the interval's speech, best first: each cut to at most
    QUOTE_MAX_WORDS at a sentence or clause boundary and ending with punctuation."""
    keywords = set(analysis.keywords)
    ranked: list[tuple[float, float, str]] = []
    for t, sentence in _spoken_sentences(segments, analysis.start, analysis.end):
        short = fit_to_budget(sentence, QUOTE_MAX_WORDS)
        words = tokens(short)
        if len(words) < QUOTE_MIN_WORDS:
            continue
        hits = sum(1 for w in words if w in keywords) + sum(2 for w in words if w in EXCITING)
        # Density first, then fuller sentences; sorting is stable, so ties keep the earlier sentence.
        rank = hits / len(words) + 0.001 * min(len(words), 12)
        if short[-1] not in ".!?":
            short += "."
        ranked.append((rank, t, short))
    ranked.sort(key=lambda r: -r[0])
    return [(t, text) for _, t, text in ranked[:limit]]


def key_phrase(analysis: IntervalAnalysis, segments: list[Segment]) -> tuple[float, str] | None:
    """The most keyword-dense sentence of the interval's speech (see `key_phrases`), or None."""
    found = key_phrases(analysis, segments, limit=1)
    return found[0] if found else None


def _join_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _event_pieces(analysis: IntervalAnalysis, style: Style, salt: int) -> list[Piece]:
    """Sentences for the interval's measured events, each with a priority."""
    i = analysis.index
    pieces = []
    cuts = analysis.events_of("scene_change")
    if len(cuts) >= 3:
        text = _fill(
            _pick(CUTS, key="cuts", index=i, salt=salt),
            n=len(cuts),
            a=spoken_time(cuts[0].t),
            b=spoken_time(cuts[-1].t),
        )
        pieces.append(Piece(cuts[0].t, 60 + len(cuts), text))
    else:
        for k, cut in enumerate(cuts):
            pieces.append(Piece(cut.t, 40 - k, _fill(_pick(CUT, key="cut", index=i + k, salt=salt), at=_at(cut.t))))
    for k, loud in enumerate(sorted(analysis.events_of("loud"), key=lambda e: -(e.value or -100))[:2]):
        long = loud.end is not None and loud.end - loud.t >= 2
        options = LOUD_LONG if long else LOUD
        text = _fill(
            _pick(options, key="loud", index=i + k, salt=salt),
            at=_at(loud.t),
            d=_seconds((loud.end or loud.t) - loud.t),
        )
        pieces.append(Piece(loud.t, 70 - 5 * k, text))
    silences = [e for e in analysis.events_of("silence") if (e.value or 0) >= SILENCE_WORTH_SAYING]
    if silences and analysis.silence_ratio < 0.9:
        longest = max(silences, key=lambda e: e.value or 0)
        text = _fill(
            _pick(SILENCE, key="silence", index=i, salt=salt), at=_at(longest.t), d=_seconds(longest.value or 0)
        )
        pieces.append(Piece(longest.t, 30, text))
    for kind, options, priority in (("speech_start", SPEECH_START, 25), ("speech_stop", SPEECH_STOP, 20)):
        found = analysis.events_of(kind)
        # In steady talk a start or stop is not news; when speech is sparse it is.
        if found and analysis.speech_ratio < STEADY_SPEECH:
            pieces.append(
                Piece(found[0].t, priority, _fill(_pick(options, key=kind, index=i, salt=salt), at=_at(found[0].t)))
            )
    return pieces


def _compose(pieces: list[Piece], target: int, *, max_items: int, chronological: bool) -> str:
    """Take pieces by priority while they fit in `target` words, then say them in time order."""
    chosen: list[Piece] = []
    words = 0
    for piece in sorted(pieces, key=lambda p: (-p.priority, p.t)):
        n = count_words(piece.text)
        if len(chosen) >= max_items or words + n > target:
            continue
        chosen.append(piece)
        words += n
    if chronological:
        chosen.sort(key=lambda p: (p.t, -p.priority))
    return " ".join(p.text for p in chosen)


def _play_by_play(analysis: IntervalAnalysis, segments: list[Segment], style: Style, target: int, salt: int) -> str:
    i = analysis.index
    pieces = _event_pieces(analysis, style, salt)
    phrases = key_phrases(analysis, segments, limit=2)
    quoted: set[str] = set()
    for k, (t, q) in enumerate(phrases):
        # The second line is said only when the budget has room after the events.
        pieces.append(Piece(t, 50 if k == 0 else 15, _fill(_pick(QUOTE, key="quote", index=i + k, salt=salt), q=q)))
        quoted.update(tokens(q))
    unsaid = [k for k in analysis.keywords if k not in quoted][:3]
    if unsaid:
        text = _fill(_pick(MENTIONS, key="mentions", index=i, salt=salt), k=_join_words(unsaid))
        pieces.append(Piece(analysis.end, 35 if not phrases else 10, text))
    return _compose(pieces, target, max_items=style.max_events + 2, chronological=True)


def _explainer(analysis: IntervalAnalysis, segments: list[Segment], style: Style, target: int, salt: int) -> str:
    i = analysis.index
    phrase = key_phrase(analysis, segments)
    if phrase is None:
        # Nothing said: describe what can be seen and heard instead, briefly.
        return _compose(_event_pieces(analysis, style, salt), target, max_items=2, chronological=True)
    pieces = [Piece(0, 100, _fill(_pick(MAIN_POINT, key="main", index=i, salt=salt), q=phrase[1]))]
    terms = analysis.keywords[:3]
    # Naming the terms adds something only when the main point did not already say them all.
    if len(terms) >= 2 and not set(terms) <= set(tokens(phrase[1])):
        pieces.append(Piece(1, 80, _fill(_pick(KEY_TERMS, key="terms", index=i, salt=salt), k=_join_words(terms))))
    events = sorted(_event_pieces(analysis, style, salt), key=lambda p: -p.priority)[: style.max_events]
    pieces += [Piece(2 + k, p.priority, p.text) for k, p in enumerate(events)]
    return _compose(pieces, target, max_items=2 + style.max_events, chronological=True)


def _highlights(analysis: IntervalAnalysis, segments: list[Segment], style: Style, target: int, salt: int) -> str:
    """The single most notable thing: an exciting line, the loudest moment, a run of cuts, a key line."""
    i = analysis.index
    candidates: list[Piece] = []
    phrase = key_phrase(analysis, segments)
    if phrase:
        exciting = any(w in EXCITING for w in tokens(phrase[1]))
        text = _fill(_pick(HIGHLIGHT_QUOTE, key="hq", index=i, salt=salt), q=phrase[1])
        candidates.append(Piece(phrase[0], 90 if exciting else 40, text))
    louds = analysis.events_of("loud")
    if louds:
        loud = max(louds, key=lambda e: e.value or -100)
        text = _fill(_pick(HIGHLIGHT_LOUD, key="hl", index=i, salt=salt), at=_at(loud.t))
        candidates.append(Piece(loud.t, 70 + (loud.value or -100) / 10, text))
    cuts = analysis.events_of("scene_change")
    if len(cuts) >= 3:
        text = _fill(_pick(HIGHLIGHT_CUTS, key="hc", index=i, salt=salt), at=_at(cuts[0].t), n=len(cuts))
        candidates.append(Piece(cuts[0].t, 50 + len(cuts), text))
    return _compose(candidates, target, max_items=1, chronological=False)


def _nothing(analysis: IntervalAnalysis, segments: list[Segment], salt: int) -> str:
    """An honest short line when nothing happened at all; "" when something did (it just did not fit)."""
    if any(e.kind in HAPPENINGS for e in analysis.events) or key_phrase(analysis, segments):
        return ""
    options = NOTHING_SILENT if analysis.has_audio and analysis.silence_ratio >= 0.9 else NOTHING
    return _pick(options, key="nothing", index=analysis.index, salt=salt)


def _similar(a: str, b: str) -> bool:
    """Same text, or the same opening words (listeners hear a repeated opener as a loop)."""
    wa, wb = tokens(a), tokens(b)
    return wa == wb or (len(wa) >= 3 and wa[:3] == wb[:3])


def offline_commentary(
    analysis: IntervalAnalysis,
    segments: list[Segment],
    *,
    style: str,
    budget: int,
    previous: str | None = None,
) -> str:
    """Commentary text for one interval in `style`, at most `budget` words, "" when there is nothing
    worth saying (or no room). Deterministic; phrasing rotates with the interval index and steps away
    from `previous` (the last interval's commentary) when it would start or read the same."""
    chosen = resolve_style(style)
    if budget <= 0 or analysis.score < chosen.min_score:
        return ""
    target = max(1, int(budget * chosen.fill))
    writer = {"explainer": _explainer, "highlights": _highlights}.get(chosen.key, _play_by_play)
    text = ""
    for salt in range(VARIANTS):
        text = writer(analysis, segments, chosen, target, salt)
        if not text and chosen.key != "highlights":
            text = _nothing(analysis, segments, salt)
        text = fit_to_budget(text, budget)
        if not text or not previous or not _similar(text, previous):
            return text
    return text
