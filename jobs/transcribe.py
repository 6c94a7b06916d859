"""The transcript of a task, interval by interval, beside the chunking (jobs side: events and choices).

Where the words come from, in order: a subtitle file uploaded with the video; a text subtitle stream in
the video; offline speech recognition of each interval (ASR_ENGINE). Every interval's words become a
`transcript_ready` event, the record from which the watch page, the WebVTT track and the downloads are
built — so a reconnecting page replays them like any other event.

The first words of an English video come from Whisper tiny.en (ASR_FAST_FIRST) when the language is known
first: given by the page or the file's tag (jobs/speech.py loads tiny.en while the video is planned and cut).
tiny.en is freed before the main model loads (the worker never holds both), which then transcribes the piece
again: that event has `refined` set and replaces the fast words in every reader. When the language is not
known, the main model (loading since the job started) makes the first words itself and detects the language
in the same pass; tiny.en is then never loaded, nor for any language other than English. Either first pass is
a quick one (ASR_QUICK_FIRST: the encoder over the piece's own frames, not a window padded to 30 s), and a full
pass of the main model then refines it, so the refined words are the ones every reader keeps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import connection

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.plan import Interval
from media_pipeline.probe import MediaInfo
from media_pipeline.process import CancelToken, wait_any
from media_pipeline.transcript.subtitles import extract_embedded, parse_subtitle_file
from media_pipeline.transcript.types import Segment, Transcript
from media_pipeline.transcript.whisper_model import FAST_NAME

from .models import ProcessingTask
from .reporter import measured
from .run import JobRun, Worker, done_signal, result_of
from .speech import known_language, load

if TYPE_CHECKING:  # the engines are imported lazily: the models are big
    from media_pipeline.transcript.asr import AsrEngine
    from media_pipeline.transcript.whisper import WhisperEngine

log = logging.getLogger(__name__)


def asr_engine(owner: object | None = None) -> AsrEngine | None:
    """The configured speech recogniser, or None when switched off. Imported lazily: the models are big.
    `owner` (a job run's stop signal) is who holds the model: the engines of one job run hold it once, and
    the run's close lets go of it whatever happened (whisper._holders, release_owner)."""
    if settings.ASR_ENGINE == "whisper":
        from media_pipeline.transcript import whisper_model
        from media_pipeline.transcript.whisper import WhisperEngine

        user = Path(settings.WHISPER_MODEL_DIR) if settings.WHISPER_MODEL_DIR else None
        model = whisper_model.resolve(
            cache_dir=settings.MODEL_CACHE_DIR / "whisper-base", user_folder=user, int8=settings.ASR_INT8_FILES
        )
        return WhisperEngine(model, num_workers=settings.ASR_LANES, cpu_threads=settings.ASR_THREADS, owner=owner)
    if settings.ASR_ENGINE == "pocketsphinx":
        from media_pipeline.transcript.sphinx import PocketsphinxEngine

        return PocketsphinxEngine()
    return None


def fast_engine(owner: object | None = None) -> WhisperEngine | None:
    """Whisper tiny.en for the first words, when ASR_FAST_FIRST is on and the main engine is Whisper. A fast
    model that is missing or not the one we ship is refused (logged, with the sentence) and the main model
    makes the first words instead: the transcript never depends on it."""
    if settings.ASR_ENGINE != "whisper" or not settings.ASR_FAST_FIRST:
        return None
    from media_pipeline.transcript import whisper_model
    from media_pipeline.transcript.whisper import WhisperEngine

    try:
        model = whisper_model.fast_model(
            settings.MODEL_CACHE_DIR / whisper_model.FAST_NAME, int8=settings.ASR_INT8_FILES
        )
    except MediaError as exc:
        log.warning("fast first words off: %s (%s)", exc.message, exc.detail)
        return None
    # Every lane's threads: nothing else of the transcript runs beside the first piece. Greedy decoding: its
    # words are replaced by base's within seconds, and on 8 s of a talk beam 1 gave the same words ~15 % sooner
    # (0.58 vs 0.69 s, measured here; the encoder's pass over the padded 30 s window is most of the time).
    threads = settings.ASR_LANES * settings.ASR_THREADS
    return WhisperEngine(model, cpu_threads=threads, owner=owner, beam_size=1)


def whole_transcript(task: ProcessingTask, src: Path, cancel: CancelToken) -> Transcript | None:
    """A transcript that exists before any recognition: uploaded subtitles, then subtitles in the file."""
    sidecar = task.files.sidecar()
    if sidecar is not None:
        return parse_subtitle_file(sidecar.read_bytes(), source="subtitles:sidecar")
    return extract_embedded(src, ffmpeg_bin=settings.FFMPEG_BIN, ffprobe=settings.FFPROBE_BIN, cancel=cancel)


def whole_label(transcript: Transcript) -> str:
    if transcript.source.startswith("youtube:"):
        kind = {"manual": "captions", "auto": "automatic captions", "translated": "captions translated to English"}
        return f"YouTube {kind.get(transcript.source.split(':', 1)[1], 'captions')} ({transcript.language})"
    return "subtitles uploaded with the video" if transcript.source.endswith("sidecar") else "subtitles in the file"


def asr_pieces(plan: list[Interval], first_piece: float) -> list[Interval]:
    """What speech recognition works on: the plan's intervals, the first one split after `first_piece`
    seconds so the first words arrive quickly. A piece keeps the index of its interval."""
    pieces = list(plan)
    head = plan[0] if plan else None
    if head is not None and first_piece > 0 and head.duration > first_piece * 2:
        cut = head.start + first_piece
        pieces[0:1] = [replace(head, end=cut), replace(head, start=cut, starts_on_keyframe=False)]
    return pieces


class TranscriptWorker(Worker):
    """Transcribes the plan's intervals in order in its own thread, while the chunks are cut.

    `announce(interval, segments, source, label, refined)` is called for each piece (it emits the event;
    `refined` when the words replace the first-pass words of that piece: tiny.en's, or a quick pass's);
    a failure is kept in `error` and degrades the transcript only, never the job. `on_end()` is called when
    no more words will come (so whoever waits for an interval's words stops waiting).
    """

    label = "transcript"

    def __init__(
        self,
        job: JobRun,
        *,
        src: Path,
        info: MediaInfo,
        plan: list[Interval],
        announce: Callable[[Interval, list[Segment], str, str, bool], None],
        on_end: Callable[[], None],
        captions: Transcript | None = None,
    ) -> None:
        super().__init__(job)
        self.task, self.src, self.info, self.plan, self.cancel = job.task, src, info, plan, job.token
        self.pieces = asr_pieces(plan, settings.ASR_FIRST_PIECE_SECONDS)
        self.announce, self.on_end = announce, on_end
        self.captions = captions  # YouTube's, fetched before the download
        self.source = ""
        self.language: str | None = None  # detected (or pinned) by the main engine

    def work(self) -> None:
        try:
            self._run()
        except Cancelled:
            pass
        except MediaError as exc:
            log.warning("transcript of task %s failed: %s (%s)", self.task.pk, exc.message, exc.detail)
            self.error = exc.message
        except Exception:
            log.exception("transcript of task %s crashed", self.task.pk)
            self.error = "The transcript could not be made; the video itself is not affected."
        finally:
            self.on_end()

    def _run(self) -> None:
        pieces = self.task.transcript_pieces()  # pieces whose words an earlier attempt already announced
        done = {round(d.get("start", -1), 3) for d in pieces}
        refined = {round(d.get("start", -1), 3) for d in pieces if d.get("refined")}
        whole = self.captions or whole_transcript(self.task, self.src, self.cancel)
        if whole is not None:
            self.source = whole.source
            label = whole_label(whole)
            for iv in self.plan:
                if round(iv.start, 3) not in done:
                    self.announce(iv, whole.between(iv.start, iv.end), whole.source, label, False)
            return
        if not self.info.has_audio:
            self.error = "This video has no sound, so there is no transcript."
            return
        engine = asr_engine(owner=self.job.stop)
        if engine is None:
            self.error = "Speech recognition is switched off on this server (ASR_ENGINE=off)."
            return
        self.source = engine.source
        if hasattr(engine, "language"):
            engine.language = known_language(self.job, self.info)
        try:
            self._recognise(engine, done=done, refined=refined)
        finally:
            # The job no longer needs the model: a worker that did not preload gives its memory back.
            if not settings.ASR_PRELOAD:
                self._release(engine)

    def _release(self, engine: object) -> threading.Thread | None:
        """Unload `engine`'s model in a daemon thread of its own. Unloading takes the models' lock, which a
        lane loading the model holds for the whole load (seconds on a busy machine, and it cannot be
        interrupted): a stopped job must not wait for that, so on a cancel the thread is left to finish on
        its own, also when the cancel comes during the wait. Otherwise nothing is loading any more and the
        release is waited for (the memory is back when the job ends)."""
        release = getattr(engine, "release", None)
        if release is None:
            return None
        thread = threading.Thread(target=release, name=f"asr-release-{self.task.pk}", daemon=True)
        thread.start()
        while thread.is_alive() and not self.cancel.is_set():  # a cancel arriving meanwhile stops the wait
            thread.join(0.1)
        return thread

    def _recognise(self, engine: AsrEngine, *, done: set[float], refined: set[float]) -> None:
        from media_pipeline.transcript.asr import clamp_segments, read_pcm

        def read(piece: Interval) -> np.ndarray:
            return read_pcm(self.src, piece.start, piece.duration, cancel=self.cancel, ffmpeg=settings.FFMPEG_BIN)

        def transcribe(
            piece: Interval, by: AsrEngine = engine, pcm: np.ndarray | None = None, quick: bool = False
        ) -> list[Segment]:
            try:
                with measured(self.task.pk, "transcribe", index=piece.index, engine=by.source) as extra:
                    audio = read(piece) if pcm is None else pcm
                    recognise = getattr(by, "transcribe_quick", by.transcribe) if quick else by.transcribe
                    segments = clamp_segments(recognise(audio, offset=piece.start), piece.start, piece.end)
                    if quick:
                        extra["quick"] = True
                    extra.update(media_seconds=round(piece.duration, 3), words=sum(len(s.words) for s in segments))
                return segments
            finally:
                connection.close()

        head = self.pieces[0] if self.pieces and self.pieces[0].start == self.plan[0].start else None
        todo = [p for p in self.pieces if round(p.start, 3) not in done]
        # Lanes transcribe pieces side by side; the words are announced in order, each piece as soon as
        # it and every piece before it are done. No more at once than ASR_LANES: each one adds its decoding
        # memory to the worker.
        pool = ThreadPoolExecutor(max_workers=settings.ASR_LANES, thread_name_prefix="asr")
        futures: list[tuple[Interval, Future[list[Segment]], bool]] = []
        try:
            if head is not None and todo and todo[0] is head:
                todo = todo[1:]
                if self._fast_first(head, engine, transcribe):
                    self._yield_to_first_chunk()
                    futures.append((head, pool.submit(transcribe, head), True))
                else:
                    # The short first piece runs alone: the first words are what a viewer waits for.
                    quick = settings.ASR_QUICK_FIRST and hasattr(engine, "transcribe_quick")
                    first = pool.submit(self._first_by_main, head, engine, transcribe, quick)
                    wait_any(done_signal(first), self.cancel)
                    label = getattr(engine, "quick_label", engine.label) if quick else engine.label
                    self.announce(head, result_of(first, self.cancel), engine.source, label, False)
                    self._yield_to_first_chunk()
                    if quick:
                        futures.append((head, pool.submit(transcribe, head), True))
            elif head is not None and round(head.start, 3) in done and round(head.start, 3) not in refined:
                # An earlier attempt announced first-pass words (tiny.en's, or a quick pass) and stopped
                # before refining them.
                quick_label = getattr(engine, "quick_label", None)
                if any(
                    p.get("source") == f"asr:{FAST_NAME}" or p.get("label") == quick_label
                    for p in self.task.transcript_pieces()[:1]
                ):
                    futures.append((head, pool.submit(transcribe, head), True))
            if futures or todo:
                pool.submit(load, self.task.pk, engine)  # measured apart from the first piece it serves
            futures += [(piece, pool.submit(transcribe, piece), False) for piece in todo]
            for piece, future, refine in futures:
                self.announce(piece, result_of(future, self.cancel), engine.source, engine.label, refine)
        finally:
            for _, future, _ in futures:
                future.cancel()
            # Stopped: do not wait for a piece the model is still decoding (that cannot be interrupted, and on
            # a busy machine takes seconds); its lane ends when the piece does, and nobody reads its words.
            pool.shutdown(wait=not self.cancel.is_set())

    def _yield_to_first_chunk(self) -> None:
        """After the first words: let the first chunk (its commentary is written from those words) be cut
        before the main model loads and decodes beside it; on two cores the two slowed each other (measured:
        bench.first_words). At most ASR_YIELD_SECONDS, and only when that chunk does not wait for the rest of
        the interval's words (COMMENTARY_EARLY_FIRST), which only this worker can make."""
        if self.task.options.commentary and settings.COMMENTARY_EARLY_FIRST and settings.ASR_YIELD_SECONDS > 0:
            self.job.after_first_chunk(self.cancel, timeout=settings.ASR_YIELD_SECONDS)

    def _fast_first(self, head: Interval, engine: AsrEngine, transcribe: Callable[..., list[Segment]]) -> bool:
        """Announce tiny.en's words for the first piece when the video is known to speak English (the page's
        option, the file's tag); True when it did (the piece is then to be transcribed again by `engine`).
        tiny.en was loaded when the job started (SpeechWarmup) and base loads only after its words: on two
        cores a load beside the first decode slows both. When the language is not known, base makes the
        first words itself (`_first_by_main`): its transcription detects the language on the way, so the
        first words wait for base's load and one pass, not base's load, a detection, tiny.en's load and its
        pass (measured: bench.first_words).
        """
        if not settings.ASR_FAST_FIRST or getattr(engine, "language", None) != "en":
            return False
        fast = fast_engine(owner=self.job.stop)
        if fast is None:
            return False
        self.language = "en"
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-first")
        try:
            result_of(pool.submit(load, self.task.pk, fast), self.cancel)
            segments = result_of(pool.submit(transcribe, head, fast, None, settings.ASR_QUICK_FIRST), self.cancel)
        except MediaError as exc:  # e.g. its model failed to load: the main model makes the first words
            log.warning("fast first words of task %s failed: %s (%s)", self.task.pk, exc.message, exc.detail)
            return False
        finally:
            self._release(fast)  # before the main model loads; a cancel does not wait for it
            pool.shutdown(wait=False)  # a cancelled job does not wait for a piece still decoding
        self.announce(head, segments, fast.source, fast.label, False)
        return True

    def _first_by_main(
        self, head: Interval, engine: AsrEngine, transcribe: Callable[..., list[Segment]], quick: bool
    ) -> list[Segment]:
        """The first piece's words by the main engine (a quick pass when `quick`). When the language is not
        known, Whisper detects it in the same pass (pinned for the task when sure: PIN_LANGUAGE_AT); an
        `asr_detect` row says what it found, timed over that whole first pass."""
        if getattr(engine, "detected_language", False) is False or getattr(engine, "language", "") is not None:
            return transcribe(head, quick=quick)
        with measured(self.task.pk, "asr_detect", engine=engine.source, within="transcribe") as extra:
            segments = transcribe(head, quick=quick)
            language, probability = engine.detected_language, engine.detected_probability  # type: ignore[attr-defined]
            extra.update(language=language, probability=round(probability, 3))
        log.info("task %s speaks %s (p=%.2f)", self.task.pk, language, probability)
        self.language = language
        return segments
