"""Health rules, evaluated every minute by the `compute-alerts` schedule and kept as Alert rows.

Each rule returns (firing, value, message). The rows feed /healthz?detail=1, the dashboard and the
`repurposer_alert{name}` gauge. The rules read only the database and the disk, so any worker may run them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from jobs.models import ProcessingTask

from . import disk, health
from .models import Alert, Sample

SAMPLE_DAYS = 7

Verdict = tuple[bool, float, str]


def stuck_tasks() -> Verdict:
    """Running tasks whose heartbeat is stale, or that wrote no event for ALERT_STUCK_MINUTES."""
    now = timezone.now()
    running = ProcessingTask.objects.filter(status=ProcessingTask.Status.RUNNING)
    stale = running.filter(heartbeat_at__lt=now - timedelta(seconds=settings.JOB_STALE_AFTER))
    quiet = running.annotate(last_event=Max("events__created_at")).filter(
        last_event__lt=now - timedelta(minutes=settings.ALERT_STUCK_MINUTES)
    )
    ids = sorted(
        {str(pk) for pk in stale.values_list("pk", flat=True)} | {str(pk) for pk in quiet.values_list("pk", flat=True)}
    )
    if not ids:
        return False, 0, ""
    return True, len(ids), f"{len(ids)} running task(s) without a heartbeat or progress: {', '.join(ids[:5])}"


def error_rate() -> Verdict:
    since = timezone.now() - timedelta(hours=1)
    finished = ProcessingTask.objects.filter(finished_at__gte=since, status__in=ProcessingTask.FINISHED)
    total = finished.count()
    failed = finished.filter(status=ProcessingTask.Status.FAILED).count()
    rate = failed / total if total else 0.0
    if total >= settings.ALERT_ERROR_MIN_TASKS and rate > settings.ALERT_ERROR_RATE:
        return True, rate, f"{failed} of the last hour's {total} finished tasks failed ({rate:.0%})"
    return False, rate, ""


def low_disk() -> Verdict:
    free = disk.free_bytes()
    if free < settings.ALERT_DISK_FREE_BYTES:
        return (
            True,
            free,
            f"{free / 1024**3:.1f} GB free under MEDIA_ROOT (alert below {settings.ALERT_DISK_FREE_BYTES / 1024**3:.1f} GB)",
        )
    return False, free, ""


def no_live_worker() -> Verdict:
    clusters = [c for c in health.live_clusters() if c["workers"] > 0]
    if clusters:
        return False, len(clusters), ""
    return True, 0, "No job worker (qcluster) has sent a heartbeat in the last few seconds: nothing will be processed."


def old_queue() -> Verdict:
    oldest = ProcessingTask.objects.filter(status=ProcessingTask.Status.QUEUED).aggregate(t=Min("created_at"))["t"]
    if oldest is None:
        return False, 0, ""
    age = (timezone.now() - oldest).total_seconds()
    if age > settings.ALERT_QUEUE_MINUTES * 60:
        return True, age, f"The oldest queued task has waited {age / 60:.0f} minutes."
    return False, age, ""


RULES: dict[str, Callable[[], Verdict]] = {
    "stuck_task": stuck_tasks,
    "error_rate": error_rate,
    "low_disk": low_disk,
    "no_live_worker": no_live_worker,
    "queue_too_old": old_queue,
}


def evaluate() -> list[Alert]:
    """Run every rule and store its verdict (`since` stays while a rule keeps firing)."""
    now = timezone.now()
    rows = []
    for name, rule in RULES.items():
        try:
            firing, value, message = rule()
        except Exception as exc:  # noqa: BLE001 - a rule that cannot run is itself worth an alert
            firing, value, message = True, 0, f"The check could not run: {type(exc).__name__}: {exc}"
        row = Alert.objects.filter(name=name).first() or Alert(name=name, checked_at=now)
        row.since = (row.since if row.firing else now) if firing else None
        row.firing, row.value, row.message, row.checked_at = firing, float(value), message[:500], now
        row.save()
        rows.append(row)
    record_sample(now)
    return rows


def record_sample(now: datetime) -> None:
    """The dashboard's history of queue depth, running tasks and free disk (one row a minute)."""
    counts = {s: 0 for s in ("queued", "running")}
    for status in counts:
        counts[status] = ProcessingTask.objects.filter(status=status).count()
    Sample.objects.create(
        at=now, queue_depth=counts["queued"], running=counts["running"], disk_free_bytes=disk.free_bytes()
    )
    Sample.objects.filter(at__lt=now - timedelta(days=SAMPLE_DAYS)).delete()
