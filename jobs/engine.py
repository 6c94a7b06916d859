"""Run one task: claim it, keep its heartbeat, run its pipeline, and record how it ended."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from media_pipeline.errors import Cancelled, DiskFull, MediaError, is_disk_full
from media_pipeline.files import remove_temp_outputs
from media_pipeline.process import Signal
from ops import metrics

from . import reporter, wakeups, webhooks
from .models import ProcessingTask
from .services import enqueue_wakeup

log = logging.getLogger(__name__)

# The job stops itself this long before django-q2's timeout would kill its process.
DEADLINE_MARGIN = 120


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat(threading.Thread):
    """Beats every JOB_HEARTBEAT_SECONDS and checks for a cancel request every JOB_CANCEL_POLL_SECONDS.

    `cancel` is the token the pipeline and ffmpeg runner poll, so a cancel in the web page reaches a running
    ffmpeg within about one poll interval. It is also set when:
    - another worker took the task over (`lost`): ours was thought dead, so it must stop writing;
    - the job nears JOB_TIMEOUT (`timed_out`): django-q2 would kill this process without cleaning up, and
      ffmpeg (in a process group of its own) would outlive it, so the job stops itself first;
    - beats have failed for half of JOB_STALE_AFTER (database gone): another worker is about to take over.
    One failed query does not stop the thread; it tries again at the next poll.
    """

    def __init__(self, task_id: Any, worker: str) -> None:
        super().__init__(name=f"heartbeat-{task_id}", daemon=True)
        self.task_id = task_id
        self.worker = worker
        self.cancel = Signal()  # waits in the job wake the moment it is set
        self.lost = threading.Event()
        self.timed_out = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        started = last_beat = time.monotonic()
        deadline = started + max(settings.JOB_TIMEOUT - DEADLINE_MARGIN, settings.JOB_TIMEOUT / 2)
        try:
            while not self._halt.wait(settings.JOB_CANCEL_POLL_SECONDS):
                now = time.monotonic()
                if now > deadline:
                    self.timed_out.set()
                    self.cancel.set()
                try:
                    self._poll(beat=now - last_beat >= settings.JOB_HEARTBEAT_SECONDS)
                    if now - last_beat >= settings.JOB_HEARTBEAT_SECONDS:
                        last_beat = now
                except Exception:
                    log.warning("heartbeat for task %s failed; retrying", self.task_id, exc_info=True)
                    connection.close()
                    if now - last_beat > settings.JOB_STALE_AFTER / 2:
                        self.lost.set()
                        self.cancel.set()
        finally:
            connection.close()

    def _poll(self, *, beat: bool) -> None:
        row = ProcessingTask.objects.filter(pk=self.task_id).values("cancel_requested", "worker", "status").first()
        if row is None or row["cancel_requested"]:
            self.cancel.set()
        elif row["worker"] != self.worker or row["status"] != ProcessingTask.Status.RUNNING:
            self.lost.set()
            self.cancel.set()
        if beat:
            ProcessingTask.objects.filter(pk=self.task_id, worker=self.worker).update(heartbeat_at=timezone.now())

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _finish(
    task: ProcessingTask,
    *,
    worker: str,
    status: str,
    event: str,
    message: str = "",
    data: dict | None = None,
    **fields: Any,
) -> bool:
    """Record the end and its event together, but only if this worker still owns the task (a takeover
    must not be overwritten). One transaction: a page never sees a finished task without its last event."""
    with transaction.atomic():
        changed = ProcessingTask.objects.filter(pk=task.pk, worker=worker, status=ProcessingTask.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), eta_seconds=None, **fields
        )
        if changed:
            progress = 100 if status == ProcessingTask.Status.SUCCEEDED else None
            stage = "done" if status == ProcessingTask.Status.SUCCEEDED else None
            reporter.emit(task.pk, event, stage=stage, progress=progress, message=message, data=data)
    return bool(changed)


def _queued_for(task: ProcessingTask) -> float:
    """Seconds since the task was queued (for an upload: since its last byte arrived, its "queued" event)."""
    queued = task.events.filter(stage="queued").order_by("seq").values_list("created_at", flat=True).first()
    return ((task.started_at or timezone.now()) - (queued or task.created_at)).total_seconds()


def run_task(task_id: str) -> str:
    """Run this one task now (inline runs and tests; the queue's workers use `run_next`). Returns what
    happened, for logs."""
    close_old_connections()
    task = ProcessingTask.objects.filter(pk=task_id).first()
    if task is None:
        return "missing"
    worker = worker_name()
    if not task.claim(worker=worker):
        return "not claimed"  # finished, cancelled, taken by another worker, or out of attempts
    return _run_claimed(task, worker)


def claim_next(*, worker: str) -> ProcessingTask | None:
    """Claim the first task of the fair queue (see TaskQuerySet.fair_queue), or None when there is nothing
    this worker may start. A candidate another worker claims first is skipped for the next one."""
    for _round in range(3):
        candidates = list(ProcessingTask.objects.fair_queue()[:8])
        if not candidates:
            return None
        for task in candidates:
            if task.claim(worker=worker, within_user_limit=True):
                return task
    return None


def run_next(*, hint: str = "") -> str:
    """What a queue entry does: run the next fair task, then the next, until there is none this worker may
    start or JOB_TIMEOUT has passed (each task then still has its whole JOB_TIMEOUT before django-q2's
    timeout of twice that).

    Queue entries are only wake-ups (`hint` names the task whose submission wrote it, for the logs): the
    task is chosen when a worker is free, not when a cluster's pusher fetched the entry. So entries that a
    busy or dead cluster fetched ahead strand nothing; the workers still running take the work, and
    `services.wake_workers` writes new entries when idle workers might lack one."""
    try:
        close_old_connections()
        worker = worker_name()
        began = time.monotonic()
        outcomes: list[str] = []
        while time.monotonic() - began < settings.JOB_TIMEOUT:
            task = claim_next(worker=worker)
            if task is None:
                break
            outcomes.append(f"{task.pk}: {_run_claimed(task, worker)}")
            webhooks.deliver_due()  # the queue's own entry would wait until this loop ends (see jobs/webhooks.py)
            close_old_connections()
        else:
            enqueue_wakeup()  # out of time with work left: another delivery goes on
        if not outcomes:
            return "nothing to start" + (f" (woken for {hint})" if hint else "")
        return "; ".join(outcomes)
    finally:
        wakeups.drain_after_job()  # here, not in a django-q2 signal: see jobs/wakeups.py


def _run_claimed(task: ProcessingTask, worker: str) -> str:
    """Run a task this worker has claimed, to its end."""
    from .pipeline import PIPELINES

    if task.attempts == 1:
        metrics.observe_queue_wait(_queued_for(task))
    if task.attempts > 1:
        # An earlier attempt died mid-write; its half-written files would only be rendered over again.
        removed = remove_temp_outputs(task.workdir())
        if removed:
            log.info("task %s: removed %d temp files of an earlier attempt", task.pk, len(removed))
    heartbeat = Heartbeat(task.pk, worker)
    heartbeat.start()
    try:
        outcome = PIPELINES[task.kind](task=task, cancel=heartbeat.cancel)
    except Cancelled:
        if heartbeat.lost.is_set():
            return "taken over"
        if heartbeat.timed_out.is_set():
            message = (
                f"Processing took longer than the limit of {settings.JOB_TIMEOUT // 60} minutes and was stopped. "
                "Try a shorter video or a longer chunk length."
            )
            _finish(
                task,
                worker=worker,
                status=ProcessingTask.Status.FAILED,
                event="error",
                message=message,
                error=message,
                error_detail=f"JOB_TIMEOUT={settings.JOB_TIMEOUT}s reached",
            )
            return "timed out"
        _finish(
            task,
            worker=worker,
            status=ProcessingTask.Status.CANCELLED,
            event="cancelled",
            message="Cancelled. The chunks made so far can still be watched.",
        )
        return "cancelled"
    except MediaError as exc:
        log.info("task %s failed: %s (%s)", task.pk, exc.message, exc.detail)
        _finish(
            task,
            worker=worker,
            status=ProcessingTask.Status.FAILED,
            event="error",
            message=exc.message,
            error=exc.message,
            error_detail=exc.detail or exc.message,
        )
        return "failed"
    except Exception as exc:
        log.exception("task %s crashed", task.pk)
        stage = ProcessingTask.objects.filter(pk=task.pk).values_list("stage", flat=True).first() or "start"
        message = (
            f"Something went wrong on our side during the “{stage}” step. "
            "The operators have the details; you can try again."
        )
        if is_disk_full(exc):  # a write of our own (not ffmpeg's) found the disk full
            message = DiskFull.MESSAGE
        detail = f"{exc!r}\n\n{traceback.format_exc()}"
        _finish(
            task,
            worker=worker,
            status=ProcessingTask.Status.FAILED,
            event="error",
            message=message,
            error=message,
            error_detail=detail,
        )
        return "crashed"
    finally:
        heartbeat.stop()
    if _finish(
        task,
        worker=worker,
        status=ProcessingTask.Status.SUCCEEDED,
        event="complete",
        message=outcome.message,
        data=outcome.data,
        result=outcome.result,
        progress=100,
    ):
        return "succeeded"
    return "taken over"
