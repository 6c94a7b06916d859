"""The shapes every transcript source returns. Times are seconds from the start of the video."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    def as_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "words": [[round(w.start, 3), round(w.end, 3), w.text] for w in self.words],
        }


@dataclass
class Transcript:
    segments: list[Segment]
    language: str = "en"
    # Where it came from, shown to the user: "youtube:manual", "youtube:auto", "youtube:translated",
    # "subtitles:embedded", "subtitles:sidecar", "asr:whisper-base", "asr:pocketsphinx" …
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def between(self, start: float, end: float) -> list[Segment]:
        """Segments that overlap [start, end)."""
        return [s for s in self.segments if s.end > start and s.start < end]
