"""Who speaks, cheaply: a change of voice told by a change of voice pitch.

There is no speaker diarisation here (no model, nothing to download). What the interval analysis already
has is the interval's audio as 16 kHz mono samples, and two people rarely speak at the same pitch: a man
and a woman are about an octave apart, two men or two women often 3–6 semitones. So:
1. `pitch_track`: the fundamental frequency of each 100 ms window (the loudness windows' grid) by
   normalised autocorrelation (numpy FFT, all windows at once), 70–400 Hz, 0 where the window is unvoiced
   (quiet, noisy or without a clear period). About 5 ms for 20 s of audio.
2. `voice_stretches`: the median pitch of each stretch of speech (each transcript segment, or each run of
   voiced windows when there is no transcript) with enough voiced windows to trust.
3. `voice_changes`: where one stretch's median differs from the one before by VOICE_CHANGE (a ratio; 1.22 is
   about 3.5 semitones, above one speaker's sentence-to-sentence drift), a new voice takes over.
It cannot tell two people with the same pitch apart, and one speaker shouting or whispering can pass for
another; the commentary says "a new voice", never a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_HZ, MAX_HZ = 70.0, 400.0
VOICED = 0.5  # normalised autocorrelation peak from which a window has a clear period
QUIET_BELOW_PEAK_DB = 30.0  # windows this far under the interval's loudest are not voice
MIN_DB = -50.0
MIN_VOICED = 5  # voiced windows (0.5 s) a stretch needs for its median to count
VOICE_CHANGE = 1.22  # ratio of two stretches' median pitch that means another voice
MERGE_GAP = 0.3  # voiced runs closer than this (s) are one stretch


@dataclass(frozen=True)
class Stretch:
    start: float
    end: float
    hz: float  # median pitch of its voiced windows


def pitch_track(samples: np.ndarray, *, rate: int = 16_000, window: float = 0.1) -> np.ndarray:
    """Pitch (Hz) per `window` of `samples` (int16 or float), 0 where unvoiced. Same windows as
    signal.window_levels (a last window under half a window is dropped)."""
    size = int(rate * window)
    if size <= 0 or len(samples) < size // 2:
        return np.zeros(0)
    x = samples.astype(np.float64)
    if samples.dtype == np.int16:
        x = x / 32768.0
    n = len(x) // size + (1 if len(x) % size >= size // 2 else 0)
    frames = np.zeros((n, size))
    whole = len(x) // size
    frames[:whole] = x[: whole * size].reshape(whole, size)
    if n > whole:
        frames[whole, : len(x) - whole * size] = x[whole * size :]
    frames -= frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(np.maximum(energy / size, 1e-12))
    loudest = float(db.max()) if len(db) else MIN_DB
    hann = np.hanning(size)
    fft_n = 1 << (2 * size - 1).bit_length()  # zero-padded to a power of two: no circular wrap, a fast FFT
    spectrum = np.fft.rfft(frames * hann, n=fft_n, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, n=fft_n, axis=1)[:, :size]
    taper = np.fft.irfft(np.abs(np.fft.rfft(hann, n=fft_n)) ** 2, n=fft_n)[:size]
    lo, hi = int(rate / MAX_HZ), min(int(rate / MIN_HZ), size - 2)
    out = np.zeros(n)
    for i in range(n):
        if ac[i, 0] <= 0 or db[i] < max(MIN_DB, loudest - QUIET_BELOW_PEAK_DB):
            continue
        # The Hann window tapers the lags: divide by the window's own autocorrelation (unbiased estimate).
        norm = (ac[i, lo : hi + 1] / ac[i, 0]) / np.maximum(taper[lo : hi + 1] / taper[0], 1e-6)
        peak = float(norm.max())
        if peak < VOICED:
            continue
        # The first lag close to the best one: a period, not a multiple of it (octave errors downwards).
        candidates = np.flatnonzero(norm >= 0.85 * peak)
        j = int(candidates[0])
        while j + 1 < len(norm) and norm[j + 1] > norm[j]:
            j += 1
        if 0 < j < len(norm) - 1:  # parabolic interpolation of the peak
            a, b, c = norm[j - 1], norm[j], norm[j + 1]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        else:
            shift = 0.0
        out[i] = rate / (lo + j + shift)
    return out


def voice_stretches(
    pitch: Sequence[float] | np.ndarray,
    *,
    start: float,
    window: float = 0.1,
    speech: Sequence[tuple[float, float]] | None = None,
) -> list[Stretch]:
    """The median pitch of each stretch of speech: the given (start, end) ranges (transcript segments, in
    seconds of video), else runs of voiced windows. Stretches with under MIN_VOICED voiced windows are left
    out."""
    values = np.asarray(pitch, dtype=np.float64)
    ranges: list[tuple[float, float]] = []
    if speech:
        ranges = sorted((a, b) for a, b in speech if b > a)
    else:
        run: list[int] = []
        for i, hz in enumerate(values):
            if hz > 0 and run and (i - run[-1]) * window > MERGE_GAP + window:
                ranges.append((start + run[0] * window, start + (run[-1] + 1) * window))
                run = []
            if hz > 0:
                run.append(i)
        if run:
            ranges.append((start + run[0] * window, start + (run[-1] + 1) * window))
    out = []
    for a, b in ranges:
        i, j = max(0, int((a - start) / window)), min(len(values), int(np.ceil((b - start) / window)))
        voiced = values[i:j][values[i:j] > 0]
        if len(voiced) >= MIN_VOICED:
            out.append(Stretch(round(a, 3), round(b, 3), round(float(np.median(voiced)), 1)))
    return out


def differs(a: float, b: float) -> bool:
    return a > 0 and b > 0 and max(a, b) / min(a, b) >= VOICE_CHANGE


def voice_changes(stretches: Sequence[Stretch]) -> list[tuple[Stretch, Stretch]]:
    """(the stretch before, the stretch a new voice starts) for each change of voice."""
    return [(p, s) for p, s in zip(stretches, stretches[1:], strict=False) if differs(p.hz, s.hz)]
