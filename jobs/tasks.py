"""django-q2 entry points: they take ids, re-fetch, and call the engine or a service."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from . import engine, services, wakeups, webhooks

P = ParamSpec("P")
R = TypeVar("R")


def _drains(job: Callable[P, R]) -> Callable[P, R]:
    """A job that emits events sends its last wake-ups at its end (jobs/wakeups.py: not in a django-q2
    signal, which runs under the cluster's timer lock)."""

    @wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return job(*args, **kwargs)
        finally:
            wakeups.drain_after_job()

    return run


def run_task(hint: str = "") -> str:
    """A queue entry: wake up and run the next fair tasks (`hint` names the task whose submission wrote
    it; entries written before fair dispatch carry a task id there too, and are served the same way)."""
    return engine.run_next(hint=hint)


@_drains
def requeue_stale() -> dict[str, int]:
    """Every minute (a django-q2 schedule): recover tasks of dead workers, expire abandoned uploads, queue the
    webhook attempts that are due."""
    return {
        **services.requeue_stale(),
        "expired_uploads": services.expire_stale_uploads(),
        "webhook_attempts": webhooks.resend_due(),
    }


def deliver_webhooks() -> str:
    """Send the webhook deliveries that are due (jobs/webhooks.py), one attempt each."""
    return ", ".join(webhooks.deliver_due()) or "nothing due"


@_drains
def regenerate_piece(idea_id: int) -> str:
    """Write one idea's piece again (from the page's Regenerate button) and render it."""
    from .ideas import regenerate
    from .models import Idea

    if not Idea.objects.filter(pk=idea_id).exists():
        return "deleted"  # its video was deleted before the job ran: nothing to write into
    return regenerate(idea_id)


@_drains
def regenerate_kit_image(task_id: str, kind: str, slot: int, change: str) -> str:
    """One thumbnail or cover of the publishing kit again, with another frame or title."""
    from .kit import regenerate_image
    from .models import ProcessingTask

    if not ProcessingTask.objects.filter(pk=task_id).exists():
        return "deleted"  # its video was deleted before the job ran: nothing to write into
    return regenerate_image(task_id, kind, slot, change)
