"""Words with timestamps, from wherever they can be had: YouTube captions, subtitles in or beside the
file, or offline speech recognition. Every source produces the same `Transcript`."""

from .types import Segment, Transcript, Word

__all__ = ["Segment", "Transcript", "Word"]
