"""faster-whisper (CTranslate2) on the CPU: the offline default, Whisper base int8 unless the operator
chose a model folder of their own; Whisper tiny.en (English only, ~2.5× faster than base at a similar word
error rate on real speech) for the first words of an English video, which base then transcribes again.

Measured by bench/asr.py on LibriVox speech read in 30 s intervals: 1.4 % WER on the clips one by one,
2.8 % over six minutes (words cut at interval edges count), ~6× real time per process on one thread. A
30 s interval costs two encoder passes (Whisper re-decodes the tail after its last complete segment), so
this is about half of what faster-whisper reaches on one long file.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import os
import sys
import threading
import weakref
from typing import Any

import numpy as np

from media_pipeline.errors import Cancelled

from .asr import SAMPLE_RATE, clamp_segments
from .types import Segment, Word
from .whisper_model import BUNDLED_NAME, FAST_NAME, ModelError, ModelFolder

# A quick pass encodes only the piece's own frames (and this many 10 ms frames more), not the window padded
# to 30 s: on an 8 s piece base's encoder does a quarter of the work. Whisper was trained on full windows,
# so the words are worse (the five LibriVox clips, 71 words: base 7.0 % against 2.8 % WER, tiny.en 7.0 %
# against 5.6 %) and are always refined by a full pass; only the first words, which a viewer waits for, are
# made this way.
QUICK_MARGIN_FRAMES = 100
QUICK_MIN_FRAMES = 300
_quick = threading.local()  # set while this thread runs a quick pass (`WhisperEngine.transcribe_quick`)

# Language detection is kept for the engine's life (one task) once it is this sure, so one silent or
# musical interval cannot switch a talk to another language halfway.
PIN_LANGUAGE_AT = 0.7

# A file's language tag (ISO 639-2, both the B and T forms, as ffprobe reports it) → Whisper's code. A tag
# that is already a two-letter code is taken as it is.
TAG_LANGUAGES = dict(
    pair.split("=")
    for pair in (
        "eng=en deu=de ger=de fra=fr fre=fr spa=es ita=it por=pt nld=nl dut=nl pol=pl rus=ru ukr=uk tur=tr swe=sv "
        "nor=no nob=no dan=da fin=fi ces=cs cze=cs slk=sk slo=sk hun=hu ron=ro rum=ro ell=el gre=el bul=bg hrv=hr "
        "srp=sr slv=sl cat=ca eus=eu baq=eu glg=gl ara=ar heb=he fas=fa per=fa hin=hi ben=bn urd=ur tam=ta tel=te "
        "tha=th vie=vi ind=id msa=ms may=ms jpn=ja kor=ko zho=zh chi=zh cmn=zh yue=yue"
    ).split()
)


# The languages Whisper knows (faster_whisper.tokenizer._LANGUAGE_CODES, copied: importing it loads
# CTranslate2). A code outside it makes the tokenizer raise, and the whole transcript would fail on a tag.
WHISPER_LANGUAGES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy "
    "id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru "
    "sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split()
)
OLD_CODES = {"iw": "he", "in": "id", "ji": "yi"}  # ISO 639-1 codes withdrawn in 1989, still seen in tags


def tag_language(tag: str | None) -> str | None:
    """Whisper's code for a file's language tag ("eng" → "en"), or None when it names no language Whisper
    knows (the language is then detected)."""
    tag = (tag or "").strip().lower().split("-")[0]
    code = TAG_LANGUAGES.get(tag, OLD_CODES.get(tag, tag))
    return code if code in WHISPER_LANGUAGES else None


_models: dict[tuple, Any] = {}
_names: dict[str, str] = {}  # model folder → its name, for loaded_models()
# How many engines hold each loaded model: an engine counts once, from its first use to its release(), and
# the model is unloaded when the last one lets go. A cancelled job's late release (in a thread of its own)
# must not unload the model the next job in this process has just loaded for the same folder.
# A holding is the engine's `owner` (the task it works for), so the engines one job makes (the warm-up's
# and the transcript's) hold a model once and either's release lets go of it; an engine with no owner is a
# holder of its own. A forced release_models() clears them all.
_holders: dict[tuple, set[object]] = {}
_closed: weakref.WeakSet[Any] = weakref.WeakSet()  # owners whose job has ended (release_owner)
_models_lock = threading.Lock()


def release_owner(owner: object) -> None:
    """The job `owner` has ended: drop its hold on every model, whichever engine took it, and unload what no
    one holds any more; an engine of its that is still waiting to load gets Cancelled instead. Catches the
    holds no engine's release() lets go of (a warm-up whose transcript came from subtitles in the file, a
    lane that took the model after its job's release ran)."""
    unloaded = False
    with _models_lock:
        _closed.add(owner)
        for key, holders in list(_holders.items()):
            holders.discard(owner)
            if not holders:
                del _holders[key]
                _models.pop(key, None)
                unloaded = True
    if unloaded:
        _unloaded()


class WhisperEngine:
    """One per task (it remembers the task's language); the model underneath is loaded once per process."""

    def __init__(
        self,
        model: ModelFolder,
        *,
        cpu_threads: int = 1,
        num_workers: int = 1,
        compute_type: str = "int8",
        language: str | None = None,
        beam_size: int = 5,
        vad: bool = True,
        owner: object | None = None,
    ) -> None:
        self.model = model
        self.owner = owner if owner is not None else object()  # who holds the model while this engine uses it
        self.cpu_threads = cpu_threads
        # Independent decoders in one loaded model, each single-threaded: that many intervals can be
        # transcribed at once from as many threads (CTranslate2 releases the GIL while it works).
        self.num_workers = num_workers
        self.compute_type = compute_type
        self.language = language
        self.beam_size = beam_size
        self.vad = vad
        self.detected_language: str | None = None
        self._held: tuple[tuple, object] | None = None  # (cache key, token in _holders) from first use to release
        self.detected_probability = 0.0  # Whisper's probability for detected_language
        self.source = f"asr:{model.name}"
        labels = {BUNDLED_NAME: "Whisper base (offline)", FAST_NAME: "Whisper tiny.en (offline, first words)"}
        self.label = labels.get(model.name, f"Whisper, {model.path.name}")
        if model.english_only:
            self.language = "en"  # an English-only model must never be asked for another language

    def transcribe(self, pcm: np.ndarray, offset: float) -> list[Segment]:
        """Segments with word timestamps for `pcm` (float32 16 kHz mono), in seconds from the video start."""
        if pcm.size == 0:
            return []
        whisper = self._loaded()
        audio = np.ascontiguousarray(pcm, dtype=np.float32)
        language, probability = self.language, None
        if language is None and whisper.model.is_multilingual:  # an English-only model: "en", as faster-whisper
            language, probability = _detect_on_first_window(whisper, audio, vad=self.vad)
        pieces, info = whisper.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            # Silero VAD (shipped inside faster-whisper, no download) drops silence first: Whisper invents
            # text for it otherwise.
            vad_filter=self.vad,
            # Windows do not feed each other: a hallucinated phrase in one must not repeat in the next.
            condition_on_previous_text=False,
        )
        segments = []
        for piece in pieces:  # a generator: decoding happens here
            words = tuple(
                Word(start=offset + w.start, end=offset + w.end, text=w.word.strip(), probability=w.probability)
                for w in piece.words or ()
                if w.word.strip()
            )
            text = piece.text.strip()
            if text:
                segments.append(Segment(start=offset + piece.start, end=offset + piece.end, text=text, words=words))
        found, sure = info.language, info.language_probability if probability is None else probability
        if self.language is None and sure >= PIN_LANGUAGE_AT and segments:
            self.language = found
        self.detected_language, self.detected_probability = found, sure
        return clamp_segments(segments, offset, offset + pcm.size / SAMPLE_RATE)

    def transcribe_quick(self, pcm: np.ndarray, offset: float) -> list[Segment]:
        """`transcribe`, with each window encoded over its own frames only (see QUICK_MARGIN_FRAMES): the
        first words sooner, to be refined by `transcribe`. The language is detected on that window too."""
        _quick.on = True
        try:
            return self.transcribe(pcm, offset)
        finally:
            _quick.on = False

    @property
    def quick_label(self) -> str:
        return f"{self.label}, first pass"

    def detect_language(self, pcm: np.ndarray) -> tuple[str, float]:
        """The spoken language of `pcm` (its first 30 s) and Whisper's probability for it. Silence first
        (Silero VAD), so a quiet opening does not decide. An English-only model cannot tell: ("en", 1.0)."""
        if self.model.english_only:
            return "en", 1.0
        # Silence only: the VAD leaves nothing and Whisper guesses from padding, with a low probability.
        language, probability, _ = self._loaded().detect_language(
            np.ascontiguousarray(pcm, dtype=np.float32), vad_filter=self.vad
        )
        return language, probability

    def preload(self) -> None:
        """Load the model now (it is kept for this process), and the voice activity detector's session when
        the engine uses it; later transcribe() calls start at once."""
        self._loaded()
        if self.vad:
            from faster_whisper.vad import get_vad_model

            get_vad_model()  # cached per process; released with the last model (release_models)

    @property
    def loaded(self) -> bool:
        """Whether this process holds the model already (a transcribe() would not load it). Not under the
        lock: a load in progress elsewhere is not waited for."""
        return self._key() in _models

    def release(self) -> None:
        """Let go of this engine's model (a long-lived worker should not keep 200 MB for the next job that
        may never transcribe): it is unloaded when no other engine in the process holds it. An engine that
        never loaded releases nothing. The next transcribe() loads it again."""
        with _models_lock:
            held, self._held = self._held, None
            if held is None:
                return
            key, token = held
            holders = _holders.get(key)
            if holders is None or token not in holders:
                return  # already unloaded by release_models()
            holders.discard(token)
            if holders:
                return  # another engine still uses it
            del _holders[key]
            _models.pop(key, None)
        _unloaded()

    def _loaded(self) -> Any:
        """The process's WhisperModel for this folder, loaded on first use after the model check."""
        key = self._key()
        with _models_lock:
            if self.owner in _closed:
                # Its job has ended (a lane or the warm-up waited on this lock meanwhile): no load, no hold.
                raise Cancelled()
            if key not in _models:
                self.model.check()  # a stat when the stamp holds; refuses a file that changed
                _names[str(self.model.path)] = self.model.name
                _models[key] = _load(
                    self.model,
                    cpu_threads=self.cpu_threads,
                    compute_type=self.compute_type,
                    num_workers=self.num_workers,
                )
            if self._held is None or self._held[1] not in _holders.get(key, ()):
                _holders.setdefault(key, set()).add(self.owner)
                self._held = (key, self.owner)
            return _models[key]

    def _key(self) -> tuple:
        return (str(self.model.path), self.compute_type, self.cpu_threads, self.num_workers, os.getpid())


def _detect_on_first_window(whisper: Any, audio: np.ndarray, *, vad: bool) -> tuple[str | None, float | None]:
    """The language of `audio` from the encoder pass its transcription starts with.

    faster-whisper 1.2 encodes the first 30 s window twice when it is not given the language: once in
    detect_language (with one more 10 ms frame), once in generate_segments. That costs base one encoder pass,
    0.76 s of an 8 s first piece's 1.87 s on two threads. Here the window is built as generate_segments builds
    it (the same VAD, features and trim) and encoded once: `_OnceEncoded` hands the same output to the
    transcription that follows. (None, None) when the VAD finds no speech: the caller's transcription then
    detects on its own, as before."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    if vad:
        chunks, _ = collect_chunks(audio, get_speech_timestamps(audio, VadOptions()))
        audio = np.concatenate(chunks, axis=0)
        if audio.size == 0:
            return None, None
    features = whisper.feature_extractor(audio)
    content_frames = features.shape[-1] - 1
    window = pad_or_trim(features[:, : min(whisper.feature_extractor.nb_max_frames, content_frames)])
    (token, probability), *_ = whisper.model.detect_language(whisper.encode(window))[0]
    return token[2:-2], probability


def loaded_models() -> list[str]:
    """What this process holds now: the Whisper models' names (e.g. "whisper-base", "whisper-tiny.en") and
    "silero-vad" while faster-whisper's voice activity detector keeps its ONNX session. For tests and logs."""
    with _models_lock:
        names = sorted({_names.get(key[0], key[0]) for key in _models})
    vad = sys.modules.get("faster_whisper.vad")
    if vad is not None and vad.get_vad_model.cache_info().currsize:
        names.append("silero-vad")
    return names


def release_models(model: ModelFolder | None = None) -> None:
    """Unload the process's models (of `model`'s folder, or all) whoever holds them, and hand the freed heap
    back to the system. For tests and shutdown: a job lets go of its model with WhisperEngine.release()."""
    with _models_lock:
        for key in [k for k in _models if model is None or k[0] == str(model.path)]:
            del _models[key]
            _holders.pop(key, None)
    _unloaded()


def _unloaded() -> None:
    """After a model left the cache: the voice activity detector's session (faster-whisper caches one per
    process) goes with the last Whisper model, and the freed heap goes back to the system (glibc keeps freed
    arenas mapped otherwise, and the worker's RSS would not go down)."""
    with _models_lock:
        last = not _models
    vad = sys.modules.get("faster_whisper.vad")
    if last and vad is not None:
        vad.get_vad_model.cache_clear()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused by the process, not returned
        pass


def _load(model: ModelFolder, *, cpu_threads: int, compute_type: str, num_workers: int = 1) -> Any:
    # Belt and braces: the folder holds model.bin and tokenizer.json, so nothing should ask the hub, and
    # with this set huggingface_hub refuses to if something does. Set before faster_whisper is imported:
    # huggingface_hub reads it at import.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from faster_whisper import WhisperModel

    class _OnceEncoded(WhisperModel):
        """Remembers, per thread, the last window it encoded: the language detection's pass serves the
        transcription's first window (`_detect_on_first_window`). Keyed by the window's bytes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._last = threading.local()

        def encode(self, features: np.ndarray) -> Any:
            window = np.ascontiguousarray(features)
            frames = self.feature_extractor.nb_max_frames
            if getattr(_quick, "on", False) and window.shape[-1] == frames:
                # pad_or_trim pads with exact zeros; a frame of sound, even digital silence, is never all 0.
                sound = np.flatnonzero(np.any(window != 0, axis=tuple(range(window.ndim - 1))))
                used = int(sound[-1]) + 1 if sound.size else 0
                keep = min(frames, max(QUICK_MIN_FRAMES, used + QUICK_MARGIN_FRAMES))
                window = np.ascontiguousarray(window[..., : keep + keep % 2])  # the encoder halves it
            key = (window.shape, window.dtype.str, hashlib.blake2b(window.data, digest_size=16).digest())
            last = getattr(self._last, "window", None)
            if last is not None and last[0] == key:
                return last[1]
            output = super().encode(window)
            self._last.window = (key, output)
            return output

    try:
        return _OnceEncoded(
            str(model.path),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=num_workers,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"The Whisper model in {model.path} could not be loaded. Check that it is a CTranslate2 Whisper "
            "model for faster-whisper.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
