"""Commentary without a network: what changes in each interval, said the way a commentator would.

The voice is mixed over the original, so it never reads the transcript back: at most one short quote
(QUOTE_MAX_WORDS words, a whole clause) per interval. Otherwise it says what the analysis measured and
how it differs from the interval before: a new shot or a run of cuts, the pace of speech, the sound level,
a silence, a voice coming in or stopping, another voice taking over (a change of voice pitch, see
analysis/voices.py), a change of topic (the key phrases against the last interval's).
Every sentence is backed by something measured; nothing is invented. Phrasings rotate, and a
`CommentaryMemory` shared by a job's intervals makes sure no sentence is said twice in one job.
Text is plain for TTS: times as words ("at 1 minute 12"), no symbols a speech engine would spell out.
Who speaks is not known by name (there is no speaker diarisation): the writer says "a voice", "the speaker" or
"a new voice" when the pitch says another person has taken over.
"""

from __future__ import annotations

import re
import threading
import zlib
from dataclasses import dataclass, field

from ..analysis.events import IntervalAnalysis
from ..analysis.keywords import EXCITING, NOT_TOPICS, as_written, is_content, is_name, key_phrases, tokens
from ..analysis.sentences import split_sentences
from ..analysis.voices import differs
from ..ideas.topics import is_topic
from ..transcript.types import Segment
from .budget import count_words, fit_to_budget
from .styles import Style, resolve_style

QUOTE_MAX_WORDS = 8  # the most of the transcript said back in one interval
QUOTE_MIN_WORDS = 3
SILENCE_WORTH_SAYING = 1.5  # seconds
STEADY_SPEECH = 0.7  # speech ratio above which speech starts and stops are not mentioned
PACE_CHANGE = 0.18  # relative change of words per second worth a remark
LEVEL_CHANGE_DB = 4.0  # change of the interval's mean level worth a remark
FAST_WPS, SLOW_WPS = 3.0, 1.9
VARIANTS = 6  # phrasings tried before giving up on differing from `previous`

# {at} is "at 12 seconds"; {At} the same capitalised at the start of a sentence; {k} key phrases.
CUT = [
    "A cut to a new shot {at}.",
    "The picture switches to a new scene {at}.",
    "{At}, the view cuts to a new shot.",
    "New shot {at}.",
    "{At}, we get a fresh angle.",
    "The camera moves on {at}.",
]
CUTS = [
    "{n} cuts between {a} and {b}.",
    "The editing gets busy, with {n} cuts from {a} to {b}.",
    "Shot after shot: {n} cuts between {a} and {b}.",
    "Quick cutting here, {n} shots in a row from {a}.",
]
HOLD = [
    "The camera holds on one shot now.",
    "No more cuts: the picture stays put.",
    "One steady shot through this stretch.",
]
LOUD = [
    "It gets loud {at}.",
    "The sound swells {at}.",
    "A burst of noise {at}.",
    "The volume jumps {at}.",
    "{At}, a sudden peak in the sound.",
]
LOUD_LONG = [
    "The noise builds {at} and holds for {d} seconds.",
    "It gets loud {at}, for about {d} seconds.",
    "{At}, the sound surges for {d} seconds.",
]
LOUDER = ["The sound level rises.", "Everything gets louder from here.", "The volume comes up.", "Louder now."]
QUIETER = ["The sound drops back.", "Quieter now.", "Things calm down on the audio.", "The level falls away."]
SILENCE = [
    "It goes quiet {at} for about {d} seconds.",
    "Silence {at}, about {d} seconds of it.",
    "{At}, the sound drops out for {d} seconds.",
    "A pause of {d} seconds {at}.",
]
SPEECH_START = ["A voice comes in {at}.", "Speech picks up {at}.", "{At}, someone starts talking."]
SPEECH_STOP = ["The talking stops {at}.", "The speech pauses {at}.", "{At}, the voice breaks off."]
VOICE_NEW = [
    "{At}, a new voice takes over.",
    "Another speaker comes in {at}.",
    "{At}, someone else speaks.",
    "A second voice answers {at}.",
    "A different voice {at}.",
]
VOICE_BACK = [
    "{At}, the earlier voice is back.",
    "The first voice answers {at}.",
    "{At}, back to the earlier speaker.",
    "The other speaker returns {at}.",
]
VOICE_OTHER = ["A different voice now.", "Someone else has the floor now.", "Another speaker takes over here."]
SPEAKER_BACK = ["The speaker is back.", "Talking resumes.", "We are back to the speaker."]
SPEAKER_GONE = ["No more talking for now.", "The speaker has gone quiet.", "The voice has dropped away."]
PACE_FAST = ["A brisk delivery.", "The speaker talks fast.", "Quick talk, no time wasted."]
PACE_SLOW = ["An unhurried delivery.", "The speaker takes it slowly.", "A calm, measured pace."]
PACE_UP = ["The pace picks up.", "The words come faster now.", "The speaker speeds up.", "Faster delivery here."]
PACE_DOWN = ["The pace slows.", "A slower, more careful delivery.", "The speaker eases off.", "It slows down here."]
TOPIC_OPEN = ["We open on {k}.", "It starts with {k}.", "First up: {k}.", "The subject is {k}."]
TOPIC_SHIFT = [
    "The talk turns to {k}.",
    "Now the subject is {k}.",
    "A change of topic: {k}.",
    "On to {k} now.",
    "Moving on to {k}.",
    "Next comes {k}.",
]
TOPIC_SAME = ["Still on {k}.", "More on {k} here.", "The focus stays on {k}.", "{K} again.", "Back to {k}."]
EXPLAIN_TOPIC = ["This part is about {k}.", "The topic here: {k}.", "Now the focus is {k}.", "This stretch covers {k}."]
EXPLAIN_ALSO = ["Key terms: {k}.", "Listen for {k}.", "Watch for {k}."]
QUOTE = ["Listen for this: {q}", "The key line: {q}", "In their words: {q}", "Note the phrase: {q}"]
HIGHLIGHT_LOUD = [
    "The big moment comes {at}, when it gets loud.",
    "Watch for the moment {at}, when the sound erupts.",
    "{At}, the noise peaks.",
]
HIGHLIGHT_CUTS = ["The pace picks up {at}, with {n} cuts in a row.", "A run of {n} cuts starts {at}."]
HIGHLIGHT_QUOTE = ["The line to remember: {q}", "Best moment: {q}", "Here it is: {q}"]
GOING_ON = ["The explanation goes on.", "More detail follows.", "The speaker keeps going.", "The thread continues."]
NOTHING = ["Nothing much changes in this stretch.", "A calm stretch with little going on.", "Not much happens here."]
NOTHING_SILENT = ["A silent stretch, nothing to report.", "All quiet here.", "No sound and little change here."]
# Events that count as something happening (a keyword alone, or a silence, is not enough to talk about).
HAPPENINGS = ("scene_change", "loud", "speech_start", "speech_stop", "voice_change")


@dataclass(frozen=True)
class Seen:
    """What an interval was like, so the next one can say what changed."""

    index: int
    topics: tuple[str, ...]
    words_per_second: float | None
    mean_db: float | None
    speech_ratio: float
    scene_changes: int
    silent: bool
    last_voice_hz: float | None = None
    voices: tuple[float, ...] = ()  # the pitch of each voice heard (its first stretch, then each new voice)


@dataclass
class CommentaryMemory:
    """What a job's commentary has measured and said so far. Thread-safe: a job writes its intervals in
    parallel, so "the interval before" is the nearest earlier one already seen."""

    said: set[str] = field(default_factory=set)
    seen: dict[int, Seen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def before(self, index: int) -> Seen | None:
        with self._lock:
            earlier = [i for i in self.seen if i < index]
            return self.seen[max(earlier)] if earlier else None

    def voices_before(self, index: int) -> tuple[float, ...]:
        """Every voice pitch heard in the intervals before `index` seen so far."""
        with self._lock:
            return tuple(hz for i, seen in sorted(self.seen.items()) if i < index for hz in seen.voices)

    def look(self, seen: Seen) -> None:
        with self._lock:
            self.seen.setdefault(seen.index, seen)

    def is_said(self, sentence: str) -> bool:
        with self._lock:
            return _norm(sentence) in self.said

    def say(self, text: str) -> None:
        with self._lock:
            self.said.update(_norm(s) for s in _sentences(text))


def _trigrams(text: str) -> set[str]:
    w = re.findall(r"[a-z0-9']+", text.lower())
    return {" ".join(w[i : i + 3]) for i in range(len(w) - 2)}


def _norm(sentence: str) -> str:
    return " ".join(tokens(sentence))


@dataclass(frozen=True)
class Piece:
    t: float  # where in the video it happens (for time order)
    priority: float  # higher is said first when the budget is short
    options: tuple[str, ...]  # the same thing in several phrasings, preferred first

    @property
    def text(self) -> str:
        return self.options[0]


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


def _fill(template: str, **values: object) -> str:
    at = values.get("at")
    if isinstance(at, str):
        values.setdefault("At", at[:1].upper() + at[1:])
    k = values.get("k")
    if isinstance(k, str):
        values.setdefault("K", k[:1].upper() + k[1:])
    text = template.format(**values)
    return text[:1].upper() + text[1:]


def _rotated(options: list[str], *, key: str, index: int, salt: int, **values: object) -> Piece:
    """All phrasings, starting from one chosen by (key, interval, salt): crc32, not hash(), so the choice
    does not change between processes."""
    start = (zlib.crc32(key.encode()) + index + salt) % len(options)
    order = options[start:] + options[:start]
    return Piece(0.0, 0.0, tuple(_fill(t, **values) for t in order))


def _piece(
    options: list[str], t: float, priority: float, *, key: str, index: int, salt: int, **values: object
) -> Piece:
    p = _rotated(options, key=key, index=index, salt=salt, **values)
    return Piece(t, priority, p.options)


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
    return split_sentences(text)


def _inside(segments: list[Segment], start: float, end: float) -> list[Segment]:
    return [s for s in sorted(segments, key=lambda s: s.start) if start <= (s.start + s.end) / 2 < end]


def _spoken_sentences(segments: list[Segment], start: float, end: float) -> list[tuple[float, str]]:
    """(time, sentence) for speech whose segment is mostly inside [start, end)."""
    out = []
    for s in _inside(segments, start, end):
        for sentence in _sentences(tts_clean(s.text)):
            out.append((max(start, s.start), sentence))
    return out


def short_quote(analysis: IntervalAnalysis, segments: list[Segment]) -> tuple[float, str] | None:
    """The interval's best short line to quote: a whole clause of QUOTE_MIN_WORDS–QUOTE_MAX_WORDS words
    that carries a keyword or an exciting word, or None. Never a clause cut in the middle."""
    keywords = set(analysis.keywords)
    best: tuple[float, float, str] | None = None
    for t, sentence in _spoken_sentences(segments, analysis.start, analysis.end):
        for clause in re.split(r"(?<=[,;:.!?])\s+", sentence):
            words = tokens(clause)
            content = [w for w in words if is_content(w)]
            if not QUOTE_MIN_WORDS <= len(clause.split()) <= QUOTE_MAX_WORDS or len(content) < 1:
                continue
            hits = sum(1 for w in words if w in keywords) + sum(2 for w in words if w in EXCITING)
            if not hits:
                continue
            text = clause.rstrip(",;:")
            if text[-1] not in ".!?":
                text += "."
            rank = hits / len(words)
            if best is None or rank > best[0]:
                best = (rank, t, text[:1].upper() + text[1:])
    return (best[1], best[2]) if best else None


def topics(analysis: IntervalAnalysis, segments: list[Segment], *, limit: int = 2) -> list[str]:
    """The interval's subject as key phrases ("syntax tree", "Asterisk PBX"), as they were written.

    1. the interval's keywords in their order (said at least twice here, ranked against the job so far),
       each replaced by the best YAKE phrase of the speech that carries it: a phrase of several words
       only when it is said at least twice or is a name (every word capitalised), since a one-off pair
       is as often a verb and its object ("parser reports") as a term;
    2. with no keyword at all (unpunctuated captions, varied talk), the best YAKE words.
    Interjections ("wow", "amazing") are moments, not topics.
    """
    text = " ".join(tts_clean(s.text) for s in _inside(segments, analysis.start, analysis.end))
    if not text:
        return []
    lowered = " ".join(tokens(text))
    # A keyword that is an interjection ("wow") or reads as a verb form ("beaten", "parsing") is not a topic.
    keywords = [k for k in analysis.keywords if k not in INTERJECTIONS | NOT_TOPICS and not k.endswith(("ed", "ing"))]
    phrases = [p for p in key_phrases(text, limit=8) if not set(p.split()) & (INTERJECTIONS | NOT_TOPICS)]
    terms = [p for p in phrases if len(p.split()) == 1 or lowered.count(p) >= 2 or is_name(p, text)]
    out: list[str] = []
    for word in keywords:
        if any(word in p.split() for p in out):
            continue
        out.append(next((p for p in terms if word in p.split()), word))
    # A noun phrase that names something (ideas/topics.py): "The talk turns to beaten" is not commentary.
    out = [p for p in out if is_topic(as_written(p, text), text)]
    if not out:
        out = [p for p in phrases if len(p.split()) == 1 and is_topic(as_written(p, text), text)][:limit]
    return [as_written(p, text) for p in out[:limit]]


INTERJECTIONS = frozenset("wow amazing incredible unbelievable insane huge massive brilliant stunning".split())


def _join_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _seen(analysis: IntervalAnalysis, found: list[str]) -> Seen:
    return Seen(
        index=analysis.index,
        topics=tuple(found),
        words_per_second=analysis.words_per_second,
        mean_db=analysis.mean_db,
        speech_ratio=analysis.speech_ratio,
        scene_changes=analysis.scene_changes,
        silent=analysis.has_audio and analysis.silence_ratio >= 0.9,
        last_voice_hz=analysis.last_voice_hz,
        voices=_voices(analysis),
    )


def _voices(analysis: IntervalAnalysis) -> tuple[float, ...]:
    first = (analysis.first_voice_hz,) if analysis.first_voice_hz else ()
    return first + tuple(e.value for e in analysis.events_of("voice_change") if e.value)


def _event_pieces(analysis: IntervalAnalysis, salt: int, heard: tuple[float, ...] = ()) -> list[Piece]:
    """Sentences for the interval's measured events, each with a priority. `heard`: the voice pitches of
    the job's earlier intervals, so a voice that comes back is not called new."""
    i = analysis.index
    pieces = []
    cuts = analysis.events_of("scene_change")
    if len(cuts) >= 3:
        a, b = spoken_time(cuts[0].t), spoken_time(cuts[-1].t)
        pieces.append(_piece(CUTS, cuts[0].t, 60 + len(cuts), key="cuts", index=i, salt=salt, n=len(cuts), a=a, b=b))
    else:
        for k, cut in enumerate(cuts):
            pieces.append(_piece(CUT, cut.t, 40 - k, key="cut", index=i + k, salt=salt, at=_at(cut.t)))
    for k, loud in enumerate(sorted(analysis.events_of("loud"), key=lambda e: -(e.value or -100))[:2]):
        long = loud.end is not None and loud.end - loud.t >= 2
        d = _seconds((loud.end or loud.t) - loud.t)
        options = LOUD_LONG if long else LOUD
        pieces.append(_piece(options, loud.t, 70 - 5 * k, key="loud", index=i + k, salt=salt, at=_at(loud.t), d=d))
    silences = [e for e in analysis.events_of("silence") if (e.value or 0) >= SILENCE_WORTH_SAYING]
    if silences and analysis.silence_ratio < 0.9:
        longest = max(silences, key=lambda e: e.value or 0)
        d = _seconds(longest.value or 0)
        pieces.append(_piece(SILENCE, longest.t, 30, key="silence", index=i, salt=salt, at=_at(longest.t), d=d))
    known = list(heard) + ([analysis.first_voice_hz] if analysis.first_voice_hz else [])
    for k, change in enumerate(analysis.events_of("voice_change")):
        # Who speaks is news even in steady talk: an interview's answer, a second commentator.
        back = change.value is not None and any(not differs(hz, change.value) for hz in known[:-1])
        if k < 2:
            options = VOICE_BACK if back else VOICE_NEW
            pieces.append(_piece(options, change.t, 50 - 5 * k, key="voice", index=i + k, salt=salt, at=_at(change.t)))
        if change.value:
            known.append(change.value)
    for kind, options, priority in (("speech_start", SPEECH_START, 25), ("speech_stop", SPEECH_STOP, 20)):
        found = analysis.events_of(kind)
        # In steady talk a start or stop is not news; when speech is sparse it is.
        if found and analysis.speech_ratio < STEADY_SPEECH:
            pieces.append(_piece(options, found[0].t, priority, key=kind, index=i, salt=salt, at=_at(found[0].t)))
    return pieces


def _heard(memory: CommentaryMemory | None, analysis: IntervalAnalysis) -> tuple[float, ...]:
    return memory.voices_before(analysis.index) if memory is not None else ()


def _change_pieces(analysis: IntervalAnalysis, found: list[str], before: Seen | None, salt: int) -> list[Piece]:
    """What differs from the interval before: topic, pace, level, the camera, the speaker. At the start of
    the video (or with nothing before) only what stands out on its own: the opening topic, a very fast or
    slow delivery."""
    i, t = analysis.index, analysis.start
    pieces: list[Piece] = []
    k = _join_words(found)
    if found:
        if before is None:
            pieces.append(_piece(TOPIC_OPEN, t, 45, key="open", index=i, salt=salt, k=k))
        else:
            new = [p for p in found if not set(p.split()) & {w for q in before.topics for w in q.split()}]
            if new:
                k_new = _join_words(new)
                pieces.append(_piece(TOPIC_SHIFT, t, 55, key="shift", index=i, salt=salt, k=k_new))
            else:
                pieces.append(_piece(TOPIC_SAME, t, 12, key="same", index=i, salt=salt, k=found[0]))
    wps = analysis.words_per_second
    if wps is not None:
        prev = before.words_per_second if before is not None else None
        if prev:
            change = (wps - prev) / prev
            if change >= PACE_CHANGE:
                pieces.append(_piece(PACE_UP, t, 35, key="up", index=i, salt=salt))
            elif change <= -PACE_CHANGE:
                pieces.append(_piece(PACE_DOWN, t, 35, key="down", index=i, salt=salt))
        elif wps >= FAST_WPS:
            pieces.append(_piece(PACE_FAST, t, 22, key="fast", index=i, salt=salt))
        elif wps <= SLOW_WPS:
            pieces.append(_piece(PACE_SLOW, t, 22, key="slow", index=i, salt=salt))
    if before is not None:
        silent = analysis.has_audio and analysis.silence_ratio >= 0.9
        if analysis.mean_db is not None and before.mean_db is not None and not silent and not before.silent:
            delta = analysis.mean_db - before.mean_db
            if delta >= LEVEL_CHANGE_DB and not analysis.events_of("loud"):
                pieces.append(_piece(LOUDER, t, 30, key="louder", index=i, salt=salt))
            elif delta <= -LEVEL_CHANGE_DB:
                pieces.append(_piece(QUIETER, t, 30, key="quieter", index=i, salt=salt))
        if before.scene_changes >= 2 and analysis.scene_changes == 0 and analysis.has_video:
            pieces.append(_piece(HOLD, t, 18, key="hold", index=i, salt=salt))
        early = [e for e in analysis.events_of("voice_change") if e.t - analysis.start < 2.0]
        if (
            before.last_voice_hz is not None
            and analysis.first_voice_hz is not None
            and differs(before.last_voice_hz, analysis.first_voice_hz)
            and not early
        ):
            pieces.append(_piece(VOICE_OTHER, t, 45, key="other", index=i, salt=salt))
        if before.speech_ratio < 0.2 and analysis.speech_ratio >= 0.5 and not analysis.events_of("speech_start"):
            pieces.append(_piece(SPEAKER_BACK, t, 28, key="back", index=i, salt=salt))
        if before.speech_ratio >= 0.5 and analysis.speech_ratio < 0.1 and not analysis.events_of("speech_stop"):
            pieces.append(_piece(SPEAKER_GONE, t, 28, key="gone", index=i, salt=salt))
    return pieces


def _compose(
    pieces: list[Piece],
    target: int,
    *,
    max_items: int,
    chronological: bool,
    memory: CommentaryMemory | None,
) -> str:
    """Take pieces by priority while they fit in `target` words, each in its first phrasing not yet said
    in this job (a piece with every phrasing said is dropped), then say them in time order."""
    chosen: list[tuple[Piece, str]] = []
    words = 0
    used: set[str] = set()
    for piece in sorted(pieces, key=lambda p: (-p.priority, p.t)):
        if len(chosen) >= max_items:
            break
        for text in piece.options:
            n = count_words(text)
            key = _norm(text)
            if words + n > target or key in used or (memory is not None and memory.is_said(text)):
                continue
            if _trigrams(text) & {g for _, said in chosen for g in _trigrams(said)}:
                continue  # "for 3 seconds … for 3 seconds" in one breath sounds like a loop
            chosen.append((piece, text))
            used.add(key)
            words += n
            break
    if chronological:
        chosen.sort(key=lambda c: (c[0].t, -c[0].priority))
    return " ".join(text for _, text in chosen)


def _quote_piece(
    analysis: IntervalAnalysis, segments: list[Segment], options: list[str], salt: int, base: float
) -> Piece | None:
    found = short_quote(analysis, segments)
    if found is None:
        return None
    t, q = found
    exciting = any(w in EXCITING for w in tokens(q))
    return _piece(options, t, base + (40 if exciting else 0), key="quote", index=analysis.index, salt=salt, q=q)


def _play_by_play(
    analysis: IntervalAnalysis,
    segments: list[Segment],
    style: Style,
    target: int,
    salt: int,
    before: Seen | None,
    found: list[str],
    memory: CommentaryMemory | None,
) -> str:
    pieces = _event_pieces(analysis, salt, _heard(memory, analysis)) + _change_pieces(analysis, found, before, salt)
    quote = _quote_piece(analysis, segments, QUOTE, salt, 32)
    if quote is not None:
        pieces.append(quote)
    if analysis.speech_ratio >= STEADY_SPEECH and before is not None and len(pieces) < 2:
        pieces.append(_piece(GOING_ON, analysis.start, 5, key="going", index=analysis.index, salt=salt))
    return _compose(pieces, target, max_items=style.max_events, chronological=True, memory=memory)


def _explainer(
    analysis: IntervalAnalysis,
    segments: list[Segment],
    style: Style,
    target: int,
    salt: int,
    before: Seen | None,
    found: list[str],
    memory: CommentaryMemory | None,
) -> str:
    i = analysis.index
    if not found and not short_quote(analysis, segments):
        # Nothing said: describe what can be seen and heard instead, briefly.
        events = _event_pieces(analysis, salt, _heard(memory, analysis))
        return _compose(events, target, max_items=2, chronological=True, memory=memory)
    pieces: list[Piece] = []
    if found:
        shift = before is None or not set(found[0].split()) & {w for q in before.topics for w in q.split()}
        options = EXPLAIN_TOPIC if shift else TOPIC_SAME
        pieces.append(_piece(options, 0, 100, key="topic", index=i, salt=salt, k=_join_words(found[:2])))
        named = {w for p in found for w in tokens(p)}
        extra = [k for k in analysis.keywords if k not in named and k not in INTERJECTIONS][:2]
        if extra:
            pieces.append(_piece(EXPLAIN_ALSO, 2, 60, key="also", index=i, salt=salt, k=_join_words(extra)))
    quote = _quote_piece(analysis, segments, QUOTE, salt, 70)
    if quote is not None:
        pieces.append(Piece(1, quote.priority, quote.options))
    changes = [p for p in _change_pieces(analysis, [], before, salt)]
    events = sorted(_event_pieces(analysis, salt, _heard(memory, analysis)) + changes, key=lambda p: -p.priority)[
        : style.max_events
    ]
    pieces += [Piece(3 + k, p.priority - 20, p.options) for k, p in enumerate(events)]
    return _compose(pieces, target, max_items=2 + style.max_events, chronological=True, memory=memory)


def _highlights(
    analysis: IntervalAnalysis,
    segments: list[Segment],
    style: Style,
    target: int,
    salt: int,
    before: Seen | None,
    found: list[str],
    memory: CommentaryMemory | None,
) -> str:
    """The single most notable thing: an exciting line, the loudest moment, a run of cuts, a key line."""
    i = analysis.index
    candidates: list[Piece] = []
    quote = _quote_piece(analysis, segments, HIGHLIGHT_QUOTE, salt, 40)
    if quote is not None:
        candidates.append(Piece(quote.t, quote.priority + 10, quote.options))
    louds = analysis.events_of("loud")
    if louds:
        loud = max(louds, key=lambda e: e.value or -100)
        candidates.append(
            _piece(HIGHLIGHT_LOUD, loud.t, 70 + (loud.value or -100) / 10, key="hl", index=i, salt=salt, at=_at(loud.t))
        )
    cuts = analysis.events_of("scene_change")
    if len(cuts) >= 3:
        n = len(cuts)
        candidates.append(
            _piece(HIGHLIGHT_CUTS, cuts[0].t, 50 + n, key="hc", index=i, salt=salt, at=_at(cuts[0].t), n=n)
        )
    return _compose(candidates, target, max_items=1, chronological=False, memory=memory)


def _nothing(analysis: IntervalAnalysis, segments: list[Segment], salt: int, memory: CommentaryMemory | None) -> str:
    """An honest short line when nothing happened at all; "" when something did (it just did not fit)."""
    if any(e.kind in HAPPENINGS for e in analysis.events) or _spoken_sentences(segments, analysis.start, analysis.end):
        return ""
    options = NOTHING_SILENT if analysis.has_audio and analysis.silence_ratio >= 0.9 else NOTHING
    piece = _rotated(options, key="nothing", index=analysis.index, salt=salt)
    return next((t for t in piece.options if memory is None or not memory.is_said(t)), "")


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
    memory: CommentaryMemory | None = None,
) -> str:
    """Commentary text for one interval in `style`, at most `budget` words, "" when there is nothing
    worth saying (or no room). Deterministic for the same memory; phrasing rotates with the interval index
    and steps away from `previous` (the last interval's commentary) when it would start or read the same.
    With a `memory` (one per job) it compares the interval with the one before and never says a sentence
    the job has already said; what it says is remembered."""
    chosen = resolve_style(style)
    found = topics(analysis, segments)
    before = memory.before(analysis.index) if memory is not None else None
    if memory is not None:
        memory.look(_seen(analysis, found))
    if budget <= 0 or analysis.score < chosen.min_score:
        return ""
    target = max(1, int(budget * chosen.fill))
    writer = {"explainer": _explainer, "highlights": _highlights}.get(chosen.key, _play_by_play)
    text = ""
    for salt in range(VARIANTS):
        text = writer(analysis, segments, chosen, target, salt, before, found, memory)
        if not text and chosen.key != "highlights":
            text = _nothing(analysis, segments, salt, memory)
        text = fit_to_budget(text, budget)
        if not text or not previous or not _similar(text, previous):
            break
    if memory is not None and text:
        memory.say(text)
    return text
