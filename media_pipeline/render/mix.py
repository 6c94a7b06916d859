"""Mix spoken commentary over a chunk's original audio: the original is ducked while the voice speaks.

The audio of a commented chunk is built in one ffmpeg filter graph (see `commentary_audio`):

1. original: aresample(async, first_pts=0) → aformat → apad → asetnsamples(256) → volume(duck envelope)
   → asetnsamples(1024);
   a source without sound has no original, and the voice alone is padded with silence.
2. speech: aformat(mono) → [aformat(stereo)] → volume(static gain) → atrim → [afade if cut] → adelay.
3. amix(duration=first, normalize=0) → atrim(interval length) → alimiter(−1 dBFS) → AAC.

Levels are exact and testable: the duck is a piecewise-linear gain evaluated per 5 ms frame, the speech gain
is computed once in Python from the WAV, amix does not rescale its inputs, and the limiter only acts on peaks
above −1 dBFS.
"""

from __future__ import annotations

import math
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from ..errors import MediaError
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST
from ..process import CancelToken, ProcessFailed, run

# Peak ceiling of the mixed audio (−1 dBFS). alimiter limits sample peaks; the 1 dB margin covers most
# inter-sample peaks and the AAC encoder's small overshoot.
LIMIT = 10 ** (-1.0 / 20)
# The duck envelope is evaluated once per audio frame; frames of 256 samples (5.3 ms at 48 kHz) make a
# 250 ms ramp ~47 small steps instead of 12 audible ones with the decoder's 1024-sample frames.
DUCK_FRAME = 256
MIX_FRAME = 1024  # the AAC encoder's frame
# Speech cut off by the end of the interval fades out over this long instead of stopping with a click.
CUT_FADE = 0.15
# Never boost a quiet recording by more than this (a near-silent WAV would otherwise become loud noise).
MAX_BOOST_DB = 30.0
MAX_CUT_DB = 40.0
# Block-gated level (the BS.1770 gating scheme, without K-weighting): pauses between words do not count.
GATE_BLOCK = 0.4
GATE_HOP = 0.1
ABSOLUTE_GATE_DB = -70.0
RELATIVE_GATE_DB = -10.0
FLOOR_DB = -120.0
# measure_windows reads videos, segments and speech WAVs.
MEASURE_FORMATS = f"{FORMAT_WHITELIST},wav"
UPMIX_DB = 20 * math.log10(math.sqrt(2))


@dataclass(frozen=True)
class CommentaryMix:
    """Spoken commentary for one chunk, and how to lay it over the original sound."""

    speech: Path  # a WAV made by a TTS engine (pcm_s16le mono 24 kHz from espeak-ng; any PCM WAV works)
    speech_duration: float  # seconds of speech; the original is ducked for this long
    delay: float = 1.0  # seconds into the interval where the commentary starts
    duck: float = 0.2  # linear gain of the original while the commentary speaks (0.2 ≈ −14 dB); 1.0 = no duck
    ramp: float = 0.25  # seconds of the fade into and out of the duck
    speech_level_db: float = -16.0  # target level of the voice: gated RMS in dBFS (a full-scale sine is −3)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float in [-1, 1], shape (frames, channels), and the sample rate. PCM WAV only."""
    with wave.open(str(path), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width == 1:  # 8-bit WAV is unsigned
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) / 128
    elif width in (2, 4):
        data = np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64) / (2 ** (8 * width - 1))
    else:
        raise wave.Error(f"unsupported sample width {width}")
    return data.reshape(-1, channels), rate


def gated_level_db(samples: np.ndarray, rate: int) -> float:
    """Level of speech in dBFS (20·log10 RMS), ignoring silent blocks.

    1. Mean power of 400 ms blocks every 100 ms (all channels together).
    2. Drop blocks under −70 dBFS, then blocks more than 10 dB under the mean of those left.
    3. The level is the mean power of the blocks that remain (whole-file RMS for clips under 400 ms).
    """
    power = np.mean(np.square(samples.reshape(len(samples), -1)), axis=1) if len(samples) else np.zeros(0)
    block, hop = int(GATE_BLOCK * rate), int(GATE_HOP * rate)
    if len(power) < block or block <= 0:
        mean = float(np.mean(power)) if len(power) else 0.0
        return 10 * math.log10(mean) if mean > 0 else FLOOR_DB
    csum = np.concatenate(([0.0], np.cumsum(power)))
    starts = np.arange(0, len(power) - block + 1, max(hop, 1))
    blocks = (csum[starts + block] - csum[starts]) / block
    blocks = blocks[blocks > 10 ** (ABSOLUTE_GATE_DB / 10)]
    if not len(blocks):
        return FLOOR_DB
    blocks = blocks[blocks > np.mean(blocks) * 10 ** (RELATIVE_GATE_DB / 10)]
    return 10 * math.log10(float(np.mean(blocks)))


def speech_gain_db(speech: Path, target_db: float) -> float:
    """The static gain that brings `speech` to `target_db` (clamped; 0 for a silent or unreadable file)."""
    try:
        samples, rate = _read_wav(speech)
    except (OSError, wave.Error, EOFError, ValueError) as exc:
        raise MediaError(
            "The spoken commentary for this part could not be read, so it was not added.", detail=f"{speech}: {exc}"
        ) from None
    level = gated_level_db(samples, rate)
    if level <= FLOOR_DB:
        return 0.0
    return max(-MAX_CUT_DB, min(MAX_BOOST_DB, target_db - level))


def duck_expression(*, start: float, end: float, duck: float, ramp: float, frame: int = DUCK_FRAME) -> str:
    """A `volume` expression (eval=frame): 1 outside, `duck` inside [start, end], linear ramps of `ramp` s
    just outside it. It is evaluated at the middle of each `frame`-sample frame (volume's own nb_samples
    variable reads as NaN in ffmpeg 5.1, so the frame size is written in)."""
    ramp = max(ramp, 1e-3)
    mid = f"(t+{frame / 2:g}/sample_rate)"
    return f"{duck:.6f}+{1 - duck:.6f}*min(1,max(max({start:.6f}-{mid},{mid}-{end:.6f}),0)/{ramp:.6f})"


def commentary_audio(
    original: ffmpeg.nodes.Stream | None,
    speech: ffmpeg.nodes.Stream,
    commentary: CommentaryMix,
    *,
    length: float,
    channels: int = 2,
    sample_rate: int | None = None,
    tail: float = 0.0,
) -> ffmpeg.nodes.Stream:
    """The filter graph (ffmpeg-python) that lays `speech` over `original` for a segment of `length` s.

    `original` must start at the interval's start (input seeking with -ss does that); None means the source
    has no sound, so the voice is mixed over silence at `sample_rate` (48 kHz when None). With an original,
    the output keeps the original's sample rate, so commented chunks join uncommented copied ones.
    The output runs `tail` s past `length` (the voice never does): the encoder's look-ahead past the chunk.
    """
    layout = "stereo" if channels == 2 else "mono"
    # Where the voice runs, relative to the segment; a voice longer than the segment is cut at its end.
    said = max(0.0, min(commentary.speech_duration, length - commentary.delay))
    voice = speech.filter("aformat", sample_fmts="fltp", channel_layouts="mono")
    gain = speech_gain_db(commentary.speech, commentary.speech_level_db)
    if channels == 2:
        # The same voice in both ears at the target level: libswresample's mono→stereo upmix puts it at
        # √½ in each (fixed in its code), so add those 3.01 dB back. Not channelmap: with a channel mapped
        # twice both outputs share one buffer and the next in-place filter (volume) applies twice. Not pan:
        # ffmpeg-python escapes its "=" so ffmpeg cannot parse it.
        voice = voice.filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
        gain += UPMIX_DB
    voice = voice.filter("volume", f"{gain:.3f}dB").filter("atrim", end=f"{said:.6f}")
    if said < commentary.speech_duration - 1e-3:
        fade = min(CUT_FADE, said)
        voice = voice.filter("afade", t="out", st=f"{said - fade:.6f}", d=f"{fade:.6f}")
    voice = voice.filter("adelay", delays=f"{round(commentary.delay * 1000)}", all=1)
    if original is None:
        mixed = voice.filter("aresample", sample_rate or 48000).filter("apad")
    else:
        # async=1 + first_pts=0 pads a late first packet and gaps with silence so the audio stays locked to
        # the video's clock, which is what keeps the duck and the voice where they belong.
        resample = {"async": 1, "first_pts": 0} | ({"osr": sample_rate} if sample_rate else {})
        bed = original.filter("aresample", **resample)
        bed = bed.filter("aformat", sample_fmts="fltp", channel_layouts=layout).filter("apad")
        if commentary.duck < 1.0 and said > 0:
            start, end = commentary.delay, commentary.delay + said
            # Short frames so the per-frame envelope is smooth; only the ducked stretch needs them, but
            # splitting the stream costs more than 5 ms frames for the whole segment.
            bed = bed.filter("asetnsamples", n=DUCK_FRAME, p=0).filter(
                "volume",
                duck_expression(start=start, end=end, duck=commentary.duck, ramp=commentary.ramp),
                eval="frame",
            )
            # Back to the encoder's frame size after the envelope: amix, the limiter and the rest cost per
            # frame, and four times the frames cost ~0.2 s of a 30 s chunk's 1.5 s (the samples are the same:
            # the chunk's decoded audio is bit for bit unchanged).
            bed = bed.filter("asetnsamples", n=MIX_FRAME, p=0)
        # The bed is first: it fixes the sample rate and layout the voice is converted to, and the length.
        mixed = ffmpeg.filter([bed, voice], "amix", inputs=2, duration="first", normalize=0)
    mixed = mixed.filter("atrim", end=f"{length + tail:.6f}")
    return mixed.filter("alimiter", limit=f"{LIMIT:.4f}", level=0, latency=1, attack=5, release=50)


def speech_input(commentary: CommentaryMix) -> ffmpeg.nodes.FilterableStream:
    """The speech WAV as an ffmpeg input (our own file, but read under the same allow-lists)."""
    return ffmpeg.input(f"file:{commentary.speech}", protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist="wav")


def measure_windows(
    path: Path,
    *,
    windows: list[tuple[float, float]],
    ffmpeg_bin: str = "ffmpeg",
    band: tuple[float, float] | None = None,
    timeout: float = 120,
    cancel: CancelToken | None = None,
) -> list[float]:
    """RMS level in dBFS (20·log10 RMS, floored at −120) of the first audio stream in each (start, end) window.

    Times are seconds from the start of the file (its first timestamp, not the stream's), so a segment placed
    at 10 s in a whole video is measured from 0. With `band` (low Hz, high Hz) only that part of the spectrum
    counts: each window is Hann-windowed and its FFT power summed over the band (Parseval), which separates
    a 300 Hz tone from a 3 kHz one by far more than a biquad band-pass would.
    """
    with tempfile.TemporaryDirectory(prefix="measure-") as folder:
        wav = Path(folder) / "audio.wav"
        argv = (
            ffmpeg.input(f"file:{path}", protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist=MEASURE_FORMATS)
            # Pad from the file's start so window times are file times even when the audio begins late.
            .output(str(wav), map="0:a:0", acodec="pcm_s16le", af="aresample=async=1:first_pts=0", f="wav")
            .global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
            .compile(cmd=ffmpeg_bin)
        )
        try:
            run(argv, timeout=timeout, cancel=cancel, what="ffmpeg")
        except ProcessFailed as exc:
            raise MediaError("We could not read the sound of this file.", detail=exc.detail) from None
        samples, rate = _read_wav(wav)
    levels = []
    for start, end in windows:
        chunk = samples[max(0, int(round(start * rate))) : max(0, int(round(end * rate)))]
        levels.append(_band_level_db(chunk, rate, band) if band else _level_db(chunk))
    return levels


def _level_db(chunk: np.ndarray) -> float:
    power = float(np.mean(np.square(chunk))) if chunk.size else 0.0
    return max(FLOOR_DB, 10 * math.log10(power)) if power > 0 else FLOOR_DB


def _band_level_db(chunk: np.ndarray, rate: int, band: tuple[float, float]) -> float:
    n = len(chunk)
    if n < 2:
        return FLOOR_DB
    window = np.hanning(n)[:, None]
    spectrum = np.abs(np.fft.rfft(chunk * window, axis=0)) ** 2
    spectrum[1 : (n + 1) // 2] *= 2  # one-sided spectrum: every bin but DC (and Nyquist) stands for two
    freqs = np.fft.rfftfreq(n, 1 / rate)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    # Parseval: Σ|X|²/n = Σ(x·w)²; dividing by Σw² undoes the window's loss of energy.
    power = float(np.sum(spectrum[inside])) / n / float(np.sum(window**2)) / chunk.shape[1]
    return max(FLOOR_DB, 10 * math.log10(power)) if power > 0 else FLOOR_DB


__all__ = [
    "CommentaryMix",
    "commentary_audio",
    "duck_expression",
    "gated_level_db",
    "measure_windows",
    "speech_gain_db",
    "speech_input",
]
