"""A script cut into scenes, and word timings for a scene's narration.

Scenes are whole sentences grouped to a few seconds of speech, so every scene is a clip a viewer can watch
on its own (the first one plays while the rest are made). Word timings come from the narration's audio:
the speech is found inside the WAV (leading and trailing silence trimmed) and its words are spread over it
in proportion to their spoken length, pauses at punctuation included. espeak-ng gives no word timings of its
own, and running speech recognition over our own synthetic speech would cost more than the captions gain.
"""

from __future__ import annotations

import array
import re
import wave
from dataclasses import dataclass
from pathlib import Path

# Sentences end at . ! ? … (and their closing quotes/brackets), or at a line break.
SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
MAX_SCRIPT_WORDS = 2500
# Relative spoken length of a pause after punctuation, in characters of speech.
PAUSES = {",": 3.0, ";": 4.0, ":": 4.0, ".": 6.0, "!": 6.0, "?": 6.0, "…": 6.0}
SILENCE_RMS = 300  # of 32767: below this a 10 ms window is silence (espeak-ng's lead-in, the tail)


@dataclass(frozen=True)
class Scene:
    index: int
    text: str  # one or more whole sentences, as spoken

    @property
    def words(self) -> list[str]:
        return self.text.split()

    def headline(self, max_words: int = 10) -> str:
        """The title-card line: the scene's first sentence, cut at `max_words` with an ellipsis."""
        first = sentences(self.text)[0] if self.text.strip() else ""
        words = first.split()
        if len(words) <= max_words:
            return first.rstrip(".")
        return " ".join(words[:max_words]).rstrip(",;:.") + "…"


def sentences(text: str) -> list[str]:
    return [" ".join(s.split()) for s in SENTENCE_END.split(text) if s and s.strip()]


def split_scenes(script: str, *, words_per_second: float, scene_seconds: float = 6.0) -> list[Scene]:
    """Group the script's sentences into scenes of about `scene_seconds` of speech.

    1. Split into sentences; a sentence longer than two scenes is cut at commas, else every N words.
    2. Add sentences to the current scene while it stays under the target; a scene never splits a sentence.
    """
    budget = max(4, round(words_per_second * scene_seconds))
    pieces: list[str] = []
    for sentence in sentences(script):
        words = sentence.split()
        if len(words) <= 2 * budget:
            pieces.append(sentence)
            continue
        current: list[str] = []
        for word in words:
            current.append(word)
            if len(current) >= budget and (word[-1] in ",;:" or len(current) >= 2 * budget):
                pieces.append(" ".join(current))
                current = []
        if current:
            pieces.append(" ".join(current))
    scenes: list[list[str]] = []
    for piece in pieces:
        count = len(piece.split())
        if scenes and sum(len(s.split()) for s in scenes[-1]) + count <= budget:
            scenes[-1].append(piece)
        else:
            scenes.append([piece])
    return [Scene(index=i, text=" ".join(group)) for i, group in enumerate(scenes)]


def speech_span(wav_path: Path) -> tuple[float, float]:
    """Where the voice is in a 16-bit mono WAV: (first, last) second with sound above SILENCE_RMS."""
    with wave.open(str(wav_path), "rb") as wav:
        rate = wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    window = max(1, rate // 100)
    loud = [
        i
        for i in range(0, len(samples), window)
        if _rms(samples[i : i + window]) > SILENCE_RMS  # noqa: E203 (ruff format's slice spacing)
    ]
    if not loud:
        return 0.0, len(samples) / rate
    return loud[0] / rate, min(len(samples), loud[-1] + window) / rate


def _rms(window: array.array) -> float:
    if not window:
        return 0.0
    return (sum(s * s for s in window) / len(window)) ** 0.5


def word_timings(text: str, *, start: float, end: float) -> list[tuple[float, float, str]]:
    """(start, end, word) for each word of `text` spoken between `start` and `end` seconds.

    Each word's share is its letters plus one (the gap) plus the pause its punctuation makes; the pause
    itself is silence after the word, not part of it, so a caption does not linger into it."""
    words = text.split()
    if not words or end <= start:
        return []
    spoken = [sum(ch.isalnum() for ch in w) + 1.0 for w in words]
    pauses = [PAUSES.get(w[-1], 0.0) for w in words]
    pauses[-1] = 0.0
    unit = (end - start) / (sum(spoken) + sum(pauses))
    timings = []
    at = start
    for word, length, pause in zip(words, spoken, pauses, strict=True):
        timings.append((round(at, 3), round(at + length * unit, 3), word))
        at += (length + pause) * unit
    return timings
