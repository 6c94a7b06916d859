"""What happens in each interval of a video: events from the signal and the transcript, and a score."""

from __future__ import annotations

from .events import Event, IntervalAnalysis, events_for, score_interval
from .keywords import KeywordContext
from .signal import Cut, Passage, SignalAnalysis, analyse_signal

__all__ = [
    "Cut",
    "Event",
    "IntervalAnalysis",
    "KeywordContext",
    "Passage",
    "SignalAnalysis",
    "analyse_signal",
    "events_for",
    "score_interval",
]
