"""pocketsphinx with the US English model its wheel ships: the light fallback when Whisper cannot run
(150 MB of memory instead of 400 MB). Low accuracy, and labelled so: 27–29 % WER on clean read speech
(bench/asr.py), 69 % on the real talks measured for the Transcripts issue; ~5× real time on one thread."""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import numpy as np

from .asr import SAMPLE_RATE, clamp_segments
from .types import Segment, Word

# "<s>", "</s>", "<sil>", "[NOISE]", "++UH++": silences and fillers, not words.
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")
# Alternate pronunciations come back as "was(2)".
_VARIANT = re.compile(r"\(\d+\)$")
# A pause this long (seconds) between two words starts a new segment.
SEGMENT_GAP = 0.5

_decoders: dict[int, Any] = {}
_decoders_lock = threading.Lock()


class PocketsphinxEngine:
    source = "asr:pocketsphinx"
    label = "pocketsphinx (offline, low accuracy)"

    def transcribe(self, pcm: np.ndarray, offset: float) -> list[Segment]:
        """Words with timestamps for `pcm` (float32 16 kHz mono), in seconds from the video start. The
        interval is decoded as one utterance and split into segments at pauses."""
        if pcm.size == 0:
            return []
        raw = (np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        decoder, lock = _decoder()
        with lock:
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            frame = 1.0 / decoder.config["frate"]
            hits = [(s.word, s.start_frame, s.end_frame) for s in decoder.seg()]
        words = [
            Word(start=offset + first * frame, end=offset + (last + 1) * frame, text=_VARIANT.sub("", word))
            for word, first, last in hits
            if not _FILLER.match(word)
        ]
        segments: list[list[Word]] = []
        for word in words:
            if not segments or word.start - segments[-1][-1].end > SEGMENT_GAP:
                segments.append([])
            segments[-1].append(word)
        return clamp_segments(
            [
                Segment(start=ws[0].start, end=ws[-1].end, text=" ".join(w.text for w in ws), words=tuple(ws))
                for ws in segments
            ],
            offset,
            offset + pcm.size / SAMPLE_RATE,
        )


def _decoder() -> tuple[Any, threading.Lock]:
    """This process's decoder (loading the model takes ~0.3 s; a decoder is not thread-safe)."""
    with _decoders_lock:
        pid = os.getpid()
        if pid not in _decoders:
            from pocketsphinx import Decoder

            _decoders[pid] = (Decoder(samprate=SAMPLE_RATE, loglevel="FATAL"), threading.Lock())
        return _decoders[pid]
