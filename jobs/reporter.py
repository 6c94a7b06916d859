"""The one way events are written: the row first, then (Redis mode) a wake-up after commit."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from ops import metrics

from . import wakeups, webhooks
from .models import PerformanceMetrics, ProcessingTask, ProgressUpdate

log = logging.getLogger(__name__)


def user_group_name(owner_id: Any) -> str:
    """The one group woken for events: a user's. The sockets of a task page, of "My videos" and of a batch
    page, and the SSE streams, all join their task owner's group and read what is new of the tasks named."""
    return f"user.{owner_id}"


def wake(task_id: Any, owner_id: Any) -> None:
    """Tell web processes that `task_id` has new rows: one wake-up, to the owner's group, queued for this
    process's sender (jobs/wakeups.py). Only a hint: a lost wake-up delays, never loses."""
    if not settings.REDIS_URL:
        return  # embedded mode: each web process tails the table itself
    try:
        wakeups.sender().send(user_group_name(owner_id), task_id)
    except Exception:  # e.g. "can't start new thread": the row is written; the sockets' safety poll finds it
        log.warning("could not queue a wake-up for task %s", task_id, exc_info=True)


# Events that say nothing about the time left (a score, an idea, a piece) keep the task's current ETA unless
# they give one; every other event without an ETA clears it, as before.
class _Keep(enum.Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
KEEPS_ETA = {"analysis_ready", "idea_ready", "piece_ready", "chapters_ready", "titles_ready", "thumbnail_ready"}
# The events a task ends with (complete, failed, cancelled).
ENDS = {"complete", "error", "cancelled"}
# An estimate is for work that remains, which takes time: never "0:00 left", never a negative time.
MIN_ETA = 1.0


def emit(
    task_id: Any,
    type: str,
    *,
    stage: str | None = None,
    progress: float | None = None,
    eta_seconds: float | None | Literal[_Keep.KEEP] = KEEP,
    message: str = "",
    data: dict | None = None,
) -> ProgressUpdate:
    """Append event number last_seq+1 for the task and update the task's summary fields with it.

    The UPDATE takes the task row's lock before the seq is read back, so two writers can never get the
    same number (and the unique (task, seq) constraint would refuse it if they did). In the same UPDATE
    progress only goes up: an attempt that took over a dead worker's task counts its own work from 0,
    but the bar stays where the first attempt had taken it until the new one passes that point.
    """
    fields: dict[str, Any] = {"last_seq": F("last_seq") + 1}
    if stage is not None:
        fields["stage"] = stage
    if progress is not None:
        fields["progress"] = Greatest(F("progress"), Value(float(progress)))
    if eta_seconds is KEEP and type not in KEEPS_ETA:
        eta_seconds = None
    if isinstance(eta_seconds, int | float):
        eta_seconds = max(float(eta_seconds), MIN_ETA)
    if eta_seconds is not KEEP:
        fields["eta_seconds"] = eta_seconds
    with transaction.atomic():
        ProcessingTask.objects.filter(pk=task_id).update(**fields)
        task = ProcessingTask.objects.only("owner", "last_seq", "stage", "progress", "eta_seconds").get(pk=task_id)
        row = ProgressUpdate.objects.create(
            task_id=task_id,
            seq=task.last_seq,
            type=type,
            stage=task.stage if stage is None else stage,
            progress=task.progress,
            eta_seconds=task.eta_seconds if eta_seconds is KEEP else eta_seconds,
            message=message,
            data=data or {},
        )
        owner_id = task.owner_id
        transaction.on_commit(lambda: wake(task_id, owner_id), robust=True)
        if type in ENDS:  # every way a task ends writes one of these; its webhooks go once that is committed
            transaction.on_commit(lambda: webhooks.task_ended(task_id), robust=True)
    metrics.count_event(type)
    return row


def record_metric(
    task_id: Any, operation: str, *, duration_ms: float, success: bool = True, data: dict | None = None
) -> None:
    PerformanceMetrics.objects.create(
        task_id=task_id, operation=operation, duration_ms=duration_ms, success=success, data=data or {}
    )


@contextmanager
def measured(task_id: Any, operation: str, **data: Any) -> Iterator[dict]:
    """Time the block and store a PerformanceMetrics row; the block may add to the yielded dict."""
    started = time.monotonic()
    extra: dict[str, Any] = dict(data)
    ok = False
    try:
        yield extra
        ok = True
    finally:
        seconds = time.monotonic() - started
        metrics.observe_stage(operation, seconds)
        record_metric(task_id, operation, duration_ms=seconds * 1000, success=ok, data=extra)
