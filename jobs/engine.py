"""Run one task: claim it, keep its heartbeat, run its pipeline, and record how it ended."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from media_pipeline.errors import Cancelled, MediaError

from . import reporter
from .models import ProcessingTask

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat(threading.Thread):
    """Beats every JOB_HEARTBEAT_SECONDS and checks for a cancel request every JOB_CANCEL_POLL_SECONDS.

    `cancel` is the token the pipeline and ffmpeg runner poll, so a cancel in the web page reaches a running
    ffmpeg within about one poll interval.
    """

    def __init__(self, task_id: Any, worker: str) -> None:
        super().__init__(name=f"heartbeat-{task_id}", daemon=True)
        self.task_id = task_id
        self.worker = worker
        self.cancel = threading.Event()
        self.lost = threading.Event()  # another worker took the task over
        self._halt = threading.Event()

    def run(self) -> None:
        last_beat = 0.0
        try:
            while not self._halt.wait(settings.JOB_CANCEL_POLL_SECONDS):
                row = (
                    ProcessingTask.objects.filter(pk=self.task_id)
                    .values("cancel_requested", "worker", "status")
                    .first()
                )
                if row is None or row["cancel_requested"]:
                    self.cancel.set()
                elif row["worker"] != self.worker or row["status"] != ProcessingTask.Status.RUNNING:
                    self.lost.set()
                    self.cancel.set()
                now = timezone.now()
                if now.timestamp() - last_beat >= settings.JOB_HEARTBEAT_SECONDS:
                    ProcessingTask.objects.filter(pk=self.task_id, worker=self.worker).update(heartbeat_at=now)
                    last_beat = now.timestamp()
        except Exception:
            log.exception("heartbeat for task %s stopped", self.task_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _finish(task: ProcessingTask, *, worker: str, status: str, **fields: Any) -> bool:
    """Record the end, but only if this worker still owns the task (a takeover must not be overwritten)."""
    return bool(
        ProcessingTask.objects.filter(pk=task.pk, worker=worker, status=ProcessingTask.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), eta_seconds=None, **fields
        )
    )


def run_task(task_id: str) -> str:
    """Entry point for one delivery of a task. Returns what happened, for logs and the django-q result."""
    from .pipeline import PIPELINES

    close_old_connections()
    task = ProcessingTask.objects.filter(pk=task_id).first()
    if task is None:
        return "missing"
    worker = worker_name()
    if not task.claim(worker=worker):
        return "not claimed"  # finished, cancelled, taken by another worker, or out of attempts
    heartbeat = Heartbeat(task.pk, worker)
    heartbeat.start()
    try:
        outcome = PIPELINES[task.kind](task=task, cancel=heartbeat.cancel)
    except Cancelled:
        if heartbeat.lost.is_set():
            return "taken over"
        if _finish(task, worker=worker, status=ProcessingTask.Status.CANCELLED):
            reporter.emit(task.pk, "cancelled", message="Cancelled. The chunks made so far can still be watched.")
        return "cancelled"
    except MediaError as exc:
        log.info("task %s failed: %s (%s)", task.pk, exc.message, exc.detail)
        if _finish(task, worker=worker, status=ProcessingTask.Status.FAILED, error=exc.message,
                   error_detail=exc.detail or exc.message):  # fmt: skip
            reporter.emit(task.pk, "error", message=exc.message)
        return "failed"
    except Exception as exc:
        log.exception("task %s crashed", task.pk)
        stage = ProcessingTask.objects.filter(pk=task.pk).values_list("stage", flat=True).first() or "start"
        message = (
            f"Something went wrong on our side during the “{stage}” step. "
            "The operators have the details; you can try again."
        )
        detail = f"{exc!r}\n\n{traceback.format_exc()}"
        if _finish(task, worker=worker, status=ProcessingTask.Status.FAILED, error=message, error_detail=detail):
            reporter.emit(task.pk, "error", message=message)
        return "crashed"
    finally:
        heartbeat.stop()
    if _finish(task, worker=worker, status=ProcessingTask.Status.SUCCEEDED, result=outcome.result, progress=100):
        reporter.emit(task.pk, "complete", stage="done", progress=100, message=outcome.message, data=outcome.data)
        return "succeeded"
    return "taken over"
