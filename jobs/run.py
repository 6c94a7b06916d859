"""One job run as one object: the task, the user's cancel, the run's own stop, its providers, the video as
it becomes available, the threads it started and the progress bar they share.

Everything a run starts stops with it: `JobRun.close()` sets `stop` (which every worker and ffmpeg run of
the job watches through `token`), wakes anything waiting for the video and joins the workers. Waits are
blocking (`media_pipeline.process.wait_any` on Signals): a worker finishing, a cancel or a stop wakes
them at once, without 0.2 s poll loops.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from django.db import connection

from media_pipeline.errors import Cancelled
from media_pipeline.probe import MediaInfo
from media_pipeline.process import AnyOf, CancelToken, Signal, wait_any

from .models import ProcessingTask
from .providers import Providers

log = logging.getLogger(__name__)

T = TypeVar("T")
W = TypeVar("W", bound="Worker")

# How long closing a run waits for each of its workers (their ffmpeg is killed within a poll of `stop`).
JOIN_TIMEOUT = 15


def done_signal(future: Future) -> Signal:
    """A Signal set when `future` is done (to wait for it beside a cancel)."""
    done = Signal()
    future.add_done_callback(lambda _: done.set())
    return done


def result_of(future: Future[T], cancel: CancelToken) -> T:
    """`future.result()`, or Cancelled as soon as `cancel` is set."""
    wait_any(done_signal(future), cancel)
    if not future.done():
        raise Cancelled()
    return future.result()


@dataclass
class VideoSource:
    """The video a reel is cut from, once there is one (a YouTube job may still be downloading)."""

    ready: Signal = field(default_factory=Signal)
    src: Path | None = None
    info: MediaInfo | None = None

    def set(self, src: Path | None, info: MediaInfo | None) -> None:
        self.src, self.info = src, info
        self.ready.set()

    def wait(self, cancel: CancelToken) -> None:
        """Block until the video is known (or known to be missing); Cancelled if `cancel` is set first."""
        wait_any(self.ready, cancel)
        if not self.ready.is_set():
            raise Cancelled()


class Progress:
    """The chunk stage's stretch of the bar, moved by chunks and transcript intervals alike, and the time
    left. Events that move it are emitted while `unit()` holds its lock, so in seq order the bar never
    goes back."""

    def __init__(self, *, total: int, position: Callable[[float], float]) -> None:
        self.total, self.done = max(1, total), 0
        self.position = position  # fraction of the stage done → the whole task's percentage
        self.started = time.monotonic()
        self._lock = threading.Lock()

    @contextmanager
    def unit(self) -> Iterator[tuple[float, float | None]]:
        """Count one unit of work done; yields (progress, eta) for the event the caller emits inside."""
        with self._lock:
            self.done += 1
            yield self.position(min(1.0, self.done / self.total)), self.eta()  # refined words count too

    def eta(self) -> float | None:
        """Seconds left, from the units done per second so far; None until two are done (several chunks
        finish at once when they render in parallel, so one says little). At least a second: with every unit
        counted the final video is still to be joined."""
        elapsed = time.monotonic() - self.started
        if self.done < 2 or elapsed <= 0:
            return None
        return max(elapsed / self.done * (self.total - self.done) * 1.1, 1.0)


@dataclass
class JobRun:
    task: ProcessingTask
    cancel: CancelToken  # the user's (the engine's heartbeat sets it)
    providers: Providers
    stop: Signal = field(default_factory=Signal)  # the run is over or failing: everything it started stops
    video: VideoSource = field(default_factory=VideoSource)
    workers: list[Worker] = field(default_factory=list)
    progress: Progress | None = None
    # Set when the first chunk is written (or the run ends). Work nobody waits for yet (the kit's frames, the
    # analysis of later intervals) starts after it: on two cores it would otherwise take the CPU the first
    # words and the first chunk need (measured: bench.first_words).
    first_chunk: Signal = field(default_factory=Signal)

    @property
    def token(self) -> AnyOf:
        """What the run's workers and ffmpeg runs watch: the user's cancel or the run's own stop."""
        return AnyOf(self.cancel, self.stop)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def after_first_chunk(self, token: CancelToken, *, timeout: float | None = None) -> None:
        """Wait until the first chunk is out (see `first_chunk`), at most `timeout`; Cancelled if `token` is
        set, whether or not the chunk came (a closing run sets both)."""
        wait_any(self.first_chunk, token, timeout=timeout)
        if token.is_set():
            raise Cancelled()

    def start(self, worker: W) -> W:
        self.workers.append(worker)
        worker.start()
        return worker

    def close(self) -> None:
        """Stop everything the run started and wait for it: the workers, then the run's work left in the
        image pool (render/images.py: a chunk thumbnail or poster whose ffmpeg is being killed), then any
        ffmpeg of this run's that the stop cancelled and is not reaped yet (a transcript lane that was not waited
        for); another job's in the same worker is left to that job."""
        from media_pipeline.process import reap_cancelled
        from media_pipeline.render.images import settle

        self.stop.set()
        self.first_chunk.set()
        self.video.ready.set()  # a reel still waiting for the video gives up
        deadline = time.monotonic() + JOIN_TIMEOUT
        for worker in self.workers:
            worker.join(timeout=max(0.1, deadline - time.monotonic()))
        if not settle(str(self.task.pk), timeout=max(1.0, deadline - time.monotonic())):
            log.warning("task %s: image work still running in the pool as its job run closes", self.task.pk)
        reap_cancelled(timeout=max(1.0, deadline - time.monotonic()), owner=(self.cancel, self.stop))
        whisper = sys.modules.get("media_pipeline.transcript.whisper")  # not imported: no model to let go of
        if whisper is not None:
            # The speech models this run held (warm-up, lanes) are let go of whichever engine took them; in a
            # thread of its own, since a load in progress holds the models' lock and cannot be interrupted.
            threading.Thread(
                target=whisper.release_owner, args=(self.stop,), name=f"asr-release-{self.task.pk}", daemon=True
            ).start()


@contextmanager
def job_run(task: ProcessingTask, cancel: CancelToken) -> Iterator[JobRun]:
    run = JobRun(task=task, cancel=cancel, providers=Providers(task.pk))
    try:
        yield run
    finally:
        run.close()


class Worker(threading.Thread):
    """A thread of a job run. Subclasses do their work in `work()` and keep what went wrong in `error` (a
    sentence): a worker degrades its own part of the job, never the job."""

    label = "worker"

    def __init__(self, job: JobRun) -> None:
        super().__init__(name=f"{self.label}-{job.task.pk}", daemon=True)
        self.job = job
        self.error: str | None = None
        self.finished = Signal()

    def run(self) -> None:
        try:
            self.work()
        finally:
            connection.close()  # this thread's database connection
            self.finished.set()

    def work(self) -> None:
        raise NotImplementedError

    def wait(self, cancel: CancelToken) -> None:
        """Block until the worker has finished; Cancelled if `cancel` is set first."""
        wait_any(self.finished, cancel)
        if not self.finished.is_set():
            raise Cancelled()
