"""An interval's events (signal + transcript), and how interesting it is as one score."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..probe import clock
from ..transcript.types import Segment
from .keywords import EXCITING, KeywordContext, is_content, pick_keywords, tokens
from .signal import Passage, SignalAnalysis
from .voices import voice_changes, voice_stretches

SPEECH_GAP = 1.5  # a pause at least this long ends a stretch of speech
FAST_TALK_WPS = 3.0  # words per second of speech; conversational English is about 2.5
STEADY_SPEECH = 0.6  # speech ratio from which an interval is "steady speech"
KINDS = ("scene_change", "loud", "silence", "speech_start", "speech_stop", "voice_change", "keyword")


@dataclass(frozen=True)
class Event:
    t: float  # seconds from the start of the video
    kind: str  # one of KINDS
    label: str  # a short human phrase: "Scene change", "Loud passage, −6 dBFS", "Keyword “penalty”"
    # cut strength 0–1, loudest level in dBFS, silence length, keyword count, the new voice's pitch in Hz
    value: float | None = None
    end: float | None = None  # for passages (loud, silence)

    def as_dict(self) -> dict:
        out: dict = {"t": round(self.t, 2), "kind": self.kind, "label": self.label}
        if self.value is not None:
            out["value"] = round(self.value, 2)
        if self.end is not None:
            out["end"] = round(self.end, 2)
        return out


@dataclass
class IntervalAnalysis:
    index: int
    start: float
    end: float
    events: list[Event]
    score: int  # 0–100, see `score_interval`
    reason: str  # one line: "4 scene changes, loud at 1:12, fast talk"
    scene_changes: int
    loud_seconds: float
    silence_ratio: float  # share of the interval below −45 dBFS (0 when there is no audio)
    speech_ratio: float  # share of the interval covered by transcript segments
    mean_db: float | None  # RMS level of the interval's audio, dBFS
    peak_db: float | None  # loudest 100 ms window, dBFS
    keywords: list[str]
    has_video: bool = True
    has_audio: bool = True
    words_per_second: float | None = None  # while speaking; None with under 3 s of speech
    median_db: float | None = None
    signal_seconds: float = 0.0  # wall time the ffmpeg analysis took
    parts: dict[str, float] = field(default_factory=dict)  # the score's components
    # Median voice pitch (Hz) of the interval's first and last stretch of speech (voices.py), so the next
    # interval can tell whether the same voice goes on; None without enough voiced speech.
    first_voice_hz: float | None = None
    last_voice_hz: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def as_dict(self) -> dict:
        def r(x: float | None, n: int = 2) -> float | None:
            return None if x is None else round(x, n)

        return {
            "index": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": self.score,
            "reason": self.reason,
            "events": [e.as_dict() for e in self.events],
            "scene_changes": self.scene_changes,
            "loud_seconds": round(self.loud_seconds, 2),
            "silence_ratio": round(self.silence_ratio, 3),
            "speech_ratio": round(self.speech_ratio, 3),
            "mean_db": r(self.mean_db, 1),
            "peak_db": r(self.peak_db, 1),
            "keywords": list(self.keywords),
            "has_video": self.has_video,
            "has_audio": self.has_audio,
            "words_per_second": r(self.words_per_second),
            "parts": {k: round(v, 1) for k, v in self.parts.items()},
        }


def db_text(db: float) -> str:
    """−6 dBFS with a real minus sign (labels are for people)."""
    return f"{round(db):d} dBFS".replace("-", "\u2212")


def events_for(
    signal: SignalAnalysis,
    segments: list[Segment],
    *,
    keywords_context: KeywordContext | None = None,
    words_until: float | None = None,
) -> IntervalAnalysis:
    """Combine the signal analysis with the transcript of the interval into events and a score.

    `segments` may include segments just outside the interval (they are clipped); with them, a pause
    across the boundary is known and a speech start/stop near the boundary is reported only when the
    pause really is at least SPEECH_GAP long. `keywords_context`, when given, should already contain the
    transcript seen so far (including this interval): keywords are ranked against it. `words_until` is where
    the words given stop being known (the first interval's commentary starts from its first piece's words):
    speech running up to it is not reported as stopping there.
    """
    start, end = signal.start, signal.end
    duration = max(end - start, 1e-9)
    events: list[Event] = []
    for cut in signal.cuts:
        events.append(Event(cut.t, "scene_change", "Scene change", value=cut.strength))
    for p in signal.loud:
        events.append(Event(p.start, "loud", f"Loud passage, {db_text(p.level_db)}", value=p.level_db, end=p.end))
    for p in signal.silences:
        events.append(Event(p.start, "silence", f"Silence for {p.duration:.1f} s", value=p.duration, end=p.end))

    segs = sorted((s for s in segments if s.text.strip() and s.end > s.start), key=lambda s: (s.start, s.end))
    events += _speech_events(segs, start, end if words_until is None else min(end, words_until))
    stretches = voice_stretches(
        signal.pitch_hz,
        start=start,
        window=signal.window,
        speech=[(max(s.start, start), min(s.end, end)) for s in segs if s.end > start and s.start < end] or None,
    )
    for before, new in voice_changes(stretches):
        pitch = "higher" if new.hz > before.hz else "lower"
        events.append(Event(new.start, "voice_change", f"Another voice, {pitch}", value=new.hz))
    speech_seconds = _covered(segs, start, end)
    words, counts, first_seen = _words_in(segs, start, end)
    keywords = pick_keywords(counts, keywords_context)
    for word in keywords:
        events.append(Event(first_seen[word], "keyword", f"Keyword \u201c{word}\u201d", value=float(counts[word])))
    events.sort(key=lambda e: (e.t, KINDS.index(e.kind)))

    analysis = IntervalAnalysis(
        index=signal.index,
        start=start,
        end=end,
        events=events,
        score=0,
        reason="",
        scene_changes=len(signal.cuts),
        loud_seconds=sum(p.duration for p in signal.loud),
        silence_ratio=min(1.0, sum(p.duration for p in signal.silences) / duration) if signal.has_audio else 0.0,
        speech_ratio=min(1.0, speech_seconds / duration),
        mean_db=signal.mean_db,
        peak_db=signal.peak_db,
        keywords=keywords,
        has_video=signal.has_video,
        has_audio=signal.has_audio,
        words_per_second=words / speech_seconds if speech_seconds >= 3 else None,
        median_db=signal.median_db,
        signal_seconds=signal.seconds,
        first_voice_hz=stretches[0].hz if stretches else None,
        last_voice_hz=stretches[-1].hz if stretches else None,
    )
    analysis.score, analysis.reason, analysis.parts = score_interval(analysis, loud=signal.loud)
    return analysis


def _merged(segs: list[Segment], gap: float) -> list[tuple[float, float]]:
    runs: list[tuple[float, float]] = []
    for s in segs:
        if runs and s.start - runs[-1][1] < gap:
            runs[-1] = (runs[-1][0], max(runs[-1][1], s.end))
        else:
            runs.append((s.start, s.end))
    return runs


def _covered(segs: list[Segment], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in _merged(segs, 0.0))


def _speech_events(segs: list[Segment], start: float, end: float) -> list[Event]:
    """Starts and stops of speech runs (pauses ≥ SPEECH_GAP) inside [start, end), only where the pause
    is proven by the segments given (or the interval itself, or the start of the video)."""
    out = []
    runs = _merged(segs, SPEECH_GAP)
    for i, (a, b) in enumerate(runs):
        if start <= a < end and (i > 0 or a - start >= SPEECH_GAP or start <= 1e-3):
            out.append(Event(a, "speech_start", "Speech starts"))
        if start < b < end and (i < len(runs) - 1 or end - b >= SPEECH_GAP):
            out.append(Event(b, "speech_stop", "Speech stops"))
    return out


def _words_in(segs: list[Segment], start: float, end: float) -> tuple[int, Counter[str], dict[str, float]]:
    """Word count, content-word counts and each content word's first time, for speech inside the interval.

    With word timings a word counts when its middle is inside; without, a segment's words are spread
    evenly over it and counted the same way.
    """
    count = 0
    counts: Counter[str] = Counter()
    first: dict[str, float] = {}
    for s in segs:
        if s.words:
            timed = [(w.start, w.end, t) for w in s.words for t in tokens(w.text)]
        else:
            toks = tokens(s.text)
            step = (s.end - s.start) / max(len(toks), 1)
            timed = [(s.start + i * step, s.start + (i + 1) * step, t) for i, t in enumerate(toks)]
        for a, b, token in timed:
            if not start <= (a + b) / 2 < end:
                continue
            count += 1
            if is_content(token):
                counts[token] += 1
                first.setdefault(token, max(start, a))
    return count, counts, first


def score_interval(
    analysis: IntervalAnalysis, *, loud: list[Passage] | None = None
) -> tuple[int, str, dict[str, float]]:
    """Score 0–100 and a one-line reason. Deterministic; each part is capped so no one signal dominates:

        cuts     = 30 · min(1, cuts per minute / 8)              8 cuts a minute is a fast-cut montage
        loud     = 15 · min(1, loud seconds / 6)
                 + 10 · min(1, max(0, peak − median − 6 dB) / 18)   dynamics: a roar over a quiet bed
        speech   = 20 · speech ratio + 8 · min(1, max(0, words/s − 2) / 1.5)   fast talk adds up to 8
        keywords = min(12, 5 · exciting keywords + 1.5 · other keywords)
        silence  = −15 · silence ratio
        score    = round(clamp(sum, 0, 100))

    So a loud, cut-heavy interval (≈ 50–70) ranks above steady talk (≈ 25–40), which ranks above a static
    silent one (0).
    """
    minutes = max(analysis.duration, 1e-9) / 60
    parts: dict[str, float] = {}
    parts["cuts"] = 30 * min(1.0, analysis.scene_changes / minutes / 8)
    dynamics = 0.0
    if analysis.peak_db is not None and analysis.median_db is not None:
        dynamics = min(1.0, max(0.0, analysis.peak_db - analysis.median_db - 6) / 18)
    parts["loud"] = 15 * min(1.0, analysis.loud_seconds / 6) + 10 * dynamics
    wps = analysis.words_per_second
    pace = min(1.0, max(0.0, (wps or 0) - 2) / 1.5)
    parts["speech"] = 20 * analysis.speech_ratio + 8 * pace
    exciting = sum(1 for k in analysis.keywords if k in EXCITING)
    parts["keywords"] = min(12.0, 5 * exciting + 1.5 * (len(analysis.keywords) - exciting))
    parts["silence"] = -15 * analysis.silence_ratio
    score = round(max(0.0, min(100.0, sum(parts.values()))))

    phrases: list[tuple[float, str]] = []
    n = analysis.scene_changes
    if n:
        phrases.append((parts["cuts"], f"{n} scene change{'s' if n != 1 else ''}"))
    if loud:
        loudest = max(loud, key=lambda p: p.level_db)
        phrases.append((parts["loud"], f"loud at {clock(loudest.start)}"))
    if wps is not None and wps >= FAST_TALK_WPS and analysis.speech_ratio >= 0.2:
        phrases.append((parts["speech"], "fast talk"))
    elif analysis.speech_ratio >= STEADY_SPEECH:
        phrases.append((parts["speech"], "steady speech"))
    elif analysis.speech_ratio >= 0.1:
        phrases.append((parts["speech"], "some speech"))
    if analysis.keywords:
        phrases.append((parts["keywords"], "keywords " + ", ".join(analysis.keywords[:3])))
    if analysis.silence_ratio >= 0.5:
        phrases.append((-parts["silence"], "silent" if analysis.silence_ratio >= 0.95 else "mostly silent"))
    if analysis.has_video and not n and analysis.speech_ratio < 0.1:
        phrases.append((0.0, "no scene changes or speech"))
    phrases.sort(key=lambda p: -p[0])
    reason = ", ".join(p for _, p in phrases[:4])
    if not reason:
        reason = "no speech"
    return score, reason, parts
