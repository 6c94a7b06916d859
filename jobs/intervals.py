"""The per-interval pipeline when a job analyses its video and speaks commentary over it.

For each interval: signal analysis (ffmpeg: scenes, loudness) → its transcript (waits for the transcript
worker) → events and a score (`analysis_ready`) → commentary text → speech → the chunk with the speech mixed
over the ducked original. Intervals flow through this side by side:

1. A few *driver* threads (COMMENTARY_LOOKAHEAD) each carry one interval through all its steps, taking
   intervals in order. Waiting on the transcript, an LLM or a TTS service only ever holds a driver, so I/O
   steps of several intervals overlap.
2. CPU-heavy steps (ffmpeg analysis and rendering) go to a pool of CHUNK_CONCURRENCY threads that always
   runs the most urgent work first: the lowest interval, and for one interval its render before anything
   else. Interval 0's chunk is never stuck behind the analysis of interval 9.
3. Chunks are handed back in index order (the playlist only grows in order); a driver does not take an
   interval more than LOOKAHEAD ahead of the last one handed back, which bounds the work in flight.

A step that fails for one interval degrades that interval (no score, no commentary, a note saying why);
only a chunk that cannot be cut fails the job, as without commentary.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.files import atomic_output
from media_pipeline.plan import Interval
from media_pipeline.probe import clock
from media_pipeline.process import AnyOf, CancelToken, Signal, wait_any
from media_pipeline.render.chunk import ChunkResult
from media_pipeline.transcript.types import Segment

if TYPE_CHECKING:
    from media_pipeline.analysis.events import IntervalAnalysis
    from media_pipeline.analysis.signal import SignalAnalysis
    from media_pipeline.render.mix import CommentaryMix
    from media_pipeline.tts.base import Speech

from .chunks import ChunkCutter
from .models import ProcessingTask
from .options import JobOptions
from .providers import silence_wav, tts_slots
from .reporter import emit, measured
from .run import JobRun, result_of

log = logging.getLogger(__name__)


class PriorityPool:
    """Worker threads that run the submitted job with the smallest priority first."""

    def __init__(self, workers: int, *, name: str) -> None:
        self._heap: list = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: tuple, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("pool is shut down")
            heapq.heappush(self._heap, (priority, next(self._counter), future, fn, args))
            self._cond.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if not self._heap:
                    return
                _, _, future, fn, args = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)
            finally:
                connection.close()  # the metrics rows this thread wrote

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            for _, _, future, _, _ in self._heap:
                future.cancel()
            self._heap.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)


class TranscriptBoard:
    """The transcript as it arrives, per interval, for the steps that need an interval's words."""

    def __init__(self, task: ProcessingTask, plan: list[Interval]) -> None:
        self.plan = plan
        self.segments: dict[int, list[Segment]] = {iv.index: [] for iv in plan}
        self.known_until: dict[int, float] = {}  # how far each interval's words are known (the last piece's end)
        # Set when the interval's words are all known, or when no more words will come for anyone.
        self.ready: dict[int, Signal] = {iv.index: Signal() for iv in plan}
        self.lock = threading.Lock()
        self._load_earlier(task)

    def _load_earlier(self, task: ProcessingTask) -> None:
        """Words an earlier attempt announced are not announced again; take them from its events."""
        for d in task.transcript_pieces():
            if d.get("index") not in self.segments:
                continue
            segs = [Segment(s["start"], s["end"], s["text"]) for s in d.get("segments", [])]
            self._add(d["index"], float(d.get("end", 0)), segs)

    def _add(self, index: int, end: float, segments: list[Segment], *, start: float | None = None) -> None:
        if start is not None:  # refined words replace those of the same span
            self.segments[index] = [s for s in self.segments[index] if not start <= s.start < end]
        self.segments[index].extend(segments)
        self.segments[index].sort(key=lambda s: s.start)
        self.known_until[index] = max(end, self.known_until.get(index, end))
        # The first interval's commentary may start from its first piece's words (COMMENTARY_EARLY_FIRST).
        early = index == self.plan[0].index and settings.COMMENTARY_EARLY_FIRST
        if early or end >= self.plan[index].end - 1e-3:
            self.ready[index].set()

    def add(self, piece: Interval, segments: list[Segment], *, refined: bool = False) -> None:
        with self.lock:
            self._add(piece.index, piece.end, segments, start=piece.start if refined else None)

    def close(self) -> None:
        """No more words are coming (the transcript ended, failed, or was never asked for)."""
        for ready in self.ready.values():
            ready.set()

    def wait(self, index: int, *, cancel: CancelToken) -> list[Segment]:
        """The interval's segments once all of them are known, or what there is once nothing more is coming."""
        wait_any(self.ready[index], cancel)
        if not self.ready[index].is_set():
            raise Cancelled()
        with self.lock:
            return list(self.segments[index])


@dataclass
class IntervalOutcome:
    chunk: ChunkResult
    analysis: dict | None = None
    commentary: dict | None = None  # text, start, end, voice, provider
    notes: list[str] = field(default_factory=list)


@dataclass
class CommentaryOptions:
    enabled: bool
    voice: str
    style: str
    duck: float
    delay: float

    @classmethod
    def of(cls, options: JobOptions) -> CommentaryOptions:
        return cls(
            enabled=options.commentary,
            voice=options.voice,
            style=options.commentary_style,
            duck=options.duck,
            delay=settings.COMMENTARY_DELAY,
        )


class IntervalPipeline:
    """Runs the steps above for one job; `run()` yields IntervalOutcomes in index order."""

    def __init__(self, job: JobRun, *, board: TranscriptBoard, cutter: ChunkCutter) -> None:
        from media_pipeline.analysis import KeywordContext

        task = job.task
        self.task, self.src, self.info, self.plan, self.cancel = task, cutter.src, cutter.info, cutter.plan, job.cancel
        self.board, self.providers, self.cutter = board, job.providers, cutter
        self.after_first_chunk = job.after_first_chunk
        self.options = CommentaryOptions.of(task.options)
        self.keywords = KeywordContext()
        self.keywords_lock = threading.Lock()
        self.previous: dict[int, str] = {}
        from media_pipeline.commentary import CommentaryMemory

        self.memory = CommentaryMemory()  # the offline writer's view of the job: what changed, what was said
        self.stop = Signal()  # set when an interval fails (or the run ends): the other drivers stop too
        self.token = AnyOf(job.token, self.stop)
        self.failure: BaseException | None = None  # the first real error (others stop with Cancelled after it)
        self.workdir = task.workdir()
        self.silence = silence_wav(task.files.silence) if self.options.enabled else None
        # Intervals whose analysis an earlier attempt announced (a re-delivery after a crash): not again.
        self.analysed = task.analysed_indexes()

    # --- steps -----------------------------------------------------------------------------------------

    def _signal(self, iv: Interval) -> SignalAnalysis:
        from media_pipeline.analysis import analyse_signal

        with measured(self.task.pk, "analysis.signal", index=iv.index):
            return analyse_signal(
                self.src, self.info, iv, ffmpeg_bin=settings.FFMPEG_BIN, timeout=120 + iv.duration, cancel=self.token
            )

    def _analyse(
        self, iv: Interval, cpu: PriorityPool, notes: list[str]
    ) -> tuple[IntervalAnalysis | None, list[Segment]]:
        """Signal analysis (CPU pool) and the interval's words → IntervalAnalysis, or None if it failed."""
        from media_pipeline.analysis import events_for

        if self.plan and iv.index != self.plan[0].index:
            self.after_first_chunk(self.token)  # see JobRun.first_chunk
        signal_future = cpu.submit((iv.index, 2), self._signal, iv)
        segments = self.board.wait(iv.index, cancel=self.token)
        try:
            signal = signal_future.result()
        except MediaError as exc:
            log.warning("analysis of interval %s failed: %s (%s)", iv.index, exc.message, exc.detail)
            notes.append(f"No events for this interval: {exc.message}")
            return None, segments
        try:
            with self.keywords_lock:
                self.keywords.update(segments)
                analysis = events_for(
                    signal, segments, keywords_context=self.keywords, words_until=self.board.known_until.get(iv.index)
                )
        except Exception:  # a bug here degrades this interval, as a failed step does, and is logged
            log.exception("events of interval %s failed", iv.index)
            notes.append("No events for this interval: they could not be worked out.")
            return None, segments
        data = analysis.as_dict()
        if iv.index in self.analysed:
            return analysis, segments
        emit(
            self.task.pk,
            "analysis_ready",
            message=f"{clock(iv.start)}–{clock(iv.end)}: {analysis.score}/100, {analysis.reason}",
            data=data,
        )
        return analysis, segments

    def _text(
        self, iv: Interval, analysis: IntervalAnalysis, segments: list[Segment], notes: list[str]
    ) -> tuple[str, str]:
        """Commentary that fits the interval: the LLM when configured (falling back to the offline writer)."""
        from media_pipeline.commentary import fit_to_budget, llm_commentary, offline_commentary, word_budget

        wps = self.providers.speech.words_per_second(self.options.voice)
        budget = word_budget(iv.duration, delay=self.options.delay, words_per_second=wps)
        previous = self.previous.get(iv.index - 1)
        model = self.providers.chat
        if model is not None:
            try:
                with measured(self.task.pk, "commentary.text", index=iv.index, provider=model.provider):
                    text = llm_commentary(
                        model,
                        analysis,
                        segments,
                        style=self.options.style,
                        budget=budget,
                        previous=previous,
                        cancel=self.token,
                    )
                return fit_to_budget(text, budget), model.provider
            except MediaError as exc:
                notes.append(f"The commentary writer failed ({exc.message}); the offline writer stood in.")
        try:
            text = offline_commentary(
                analysis, segments, style=self.options.style, budget=budget, previous=previous, memory=self.memory
            )
        except Exception:  # degrade this interval only
            log.exception("offline commentary of interval %s failed", iv.index)
            notes.append("The commentary for this interval could not be written.")
            return "", "offline"
        return fit_to_budget(text, budget), "offline"

    def _speak(self, iv: Interval, text: str, notes: list[str]) -> Speech | None:
        out = self.task.files.speech(iv.index)
        engine = self.providers.speech
        try:
            with tts_slots().hold(cancel=self.token):
                with measured(
                    self.task.pk, "tts", index=iv.index, provider=engine.name, words=len(text.split())
                ) as extra:
                    speech = engine.synthesize(text, voice=self.options.voice, out=out, cancel=self.token)
                    extra["speech_seconds"] = round(speech.duration, 3)
            return speech
        except MediaError as exc:
            log.warning("speech for interval %s failed: %s (%s)", iv.index, exc.message, exc.detail)
            notes.append(f"This chunk has no commentary: {exc.message}")
            return None

    def _render(self, iv: Interval, mix: CommentaryMix | None) -> ChunkResult:
        return self.cutter.render(iv, cancel=self.token, mix=mix)

    def _interval(self, iv: Interval, cpu: PriorityPool) -> IntervalOutcome:
        from media_pipeline.render.mix import CommentaryMix

        notes: list[str] = []
        done = self.cutter.done(iv)
        analysis, segments = self._analyse(iv, cpu, notes)
        commentary = None
        mix = None
        record = self.task.files.speech_record(iv.index)
        if self.options.enabled and done and record.exists():
            # An earlier attempt cut this chunk with its commentary but died before announcing it.
            commentary = json.loads(record.read_text())
        if self.options.enabled and not done:
            text, provider = self._text(iv, analysis, segments, notes) if analysis is not None else ("", "")
            speech = self._speak(iv, text, notes) if text else None
            if speech is not None:
                start = iv.start + self.options.delay
                commentary = {
                    "text": text,
                    "start": round(start, 3),
                    "end": round(min(iv.end, start + speech.duration), 3),
                    "voice": self.options.voice,
                    "provider": provider,
                    "speech": speech.provider,
                }
                self.previous[iv.index] = text
                mix = CommentaryMix(
                    speech=speech.path,
                    speech_duration=speech.duration,
                    delay=self.options.delay,
                    duck=self.options.duck,
                )
                with atomic_output(record) as tmp:  # before the chunk exists: a re-delivery finds both or neither
                    tmp.write_text(json.dumps(commentary))
            else:
                if not text and analysis is not None and not notes:
                    notes.append("Nothing to comment on in this interval.")
                # Same audio path with silence, so every segment of the playlist has the same audio format.
                assert self.silence is not None  # made whenever commentary is on
                mix = CommentaryMix(speech=self.silence, speech_duration=0.1, delay=0.0, duck=1.0)
        chunk = cpu.submit((iv.index, 0), self._render, iv, mix).result()
        return IntervalOutcome(
            chunk=chunk,
            analysis=analysis.as_dict() if analysis is not None else None,
            commentary=commentary,
            notes=notes,
        )

    # --- running ---------------------------------------------------------------------------------------

    def _halt(self, window: threading.Condition) -> None:
        """Stop every driver, including one waiting for the window to move."""
        self.stop.set()
        with window:
            window.notify_all()

    def run(self) -> Generator[IntervalOutcome, None, None]:
        cpu = PriorityPool(settings.CHUNK_CONCURRENCY, name=f"cpu-{self.task.pk}")
        lookahead = settings.COMMENTARY_LOOKAHEAD
        results: dict[int, Future] = {iv.index: Future() for iv in self.plan}
        next_up = iter(self.plan)
        take_lock = threading.Lock()
        handed_back = {"n": 0}
        window = threading.Condition()

        def drive() -> None:
            try:
                while not self.stop.is_set():
                    with take_lock:
                        iv = next(next_up, None)
                    if iv is None:
                        return
                    with window:  # no more than `lookahead` intervals ahead of the last chunk handed back
                        while iv.index >= handed_back["n"] + lookahead and not self.stop.is_set():
                            window.wait()
                    future = results[iv.index]
                    if self.stop.is_set():
                        future.set_exception(Cancelled())  # taken but not done: whoever waits must not hang
                        return
                    try:
                        future.set_result(self._interval(iv, cpu))
                    except BaseException as exc:  # noqa: BLE001 - raised to the job in run()
                        if not isinstance(exc, Cancelled) and self.failure is None:
                            self.failure = exc
                        future.set_exception(exc)
                        self._halt(window)  # a chunk that cannot be cut ends the job; stop the others now
            finally:
                connection.close()

        drivers = [
            threading.Thread(target=drive, name=f"interval-{self.task.pk}-{i}", daemon=True)
            for i in range(min(lookahead, len(self.plan)))
        ]
        for thread in drivers:
            thread.start()
        try:
            for iv in self.plan:
                try:
                    outcome = result_of(results[iv.index], self.cancel)
                except Cancelled:
                    # Stopped because another interval failed: that failure is the one to report.
                    if self.failure is not None and not self.cancel.is_set():
                        raise self.failure from None
                    raise
                yield outcome
                with window:
                    handed_back["n"] = iv.index + 1
                    window.notify_all()
        finally:
            self._halt(window)
            cpu.shutdown()
            deadline = time.monotonic() + 10  # their ffmpeg is killed within a poll; do not wait long
            for thread in drivers:
                thread.join(timeout=max(0.1, deadline - time.monotonic()))
