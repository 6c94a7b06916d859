"""/metrics (Prometheus), /healthz (liveness, alerts with ?detail=1) and /readyz (readiness)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from jobs.models import ProcessingTask

from . import disk, health, metrics
from .models import Alert


def _may_scrape(request: HttpRequest) -> bool:
    """A staff session, or `Authorization: Bearer <METRICS_TOKEN>` when a token is set."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token)


def _scraped_now() -> Iterable[Metric]:
    """What the database and the disk say right now (true whichever process is scraped)."""
    tasks = metrics.gauge("repurposer_tasks", "Tasks by status and kind", ["status", "kind"])
    counts = {(s, k): 0 for s in ProcessingTask.Status.values for k in ProcessingTask.Kind.values}
    for row in ProcessingTask.objects.values("status", "kind").annotate(n=Count("pk")):
        counts[(row["status"], row["kind"])] = row["n"]
    for (status, kind), n in sorted(counts.items()):
        tasks.add_metric([status, kind], n)
    yield tasks
    queued = ProcessingTask.objects.filter(status=ProcessingTask.Status.QUEUED).count()
    depth = metrics.gauge("repurposer_queue_depth", "Tasks queued and not yet claimed by a worker")
    depth.add_metric([], queued)
    yield depth
    free = metrics.gauge("repurposer_disk_free_bytes", "Free bytes on the filesystem of MEDIA_ROOT")
    free.add_metric([], disk.free_bytes())
    yield free
    alerts = metrics.gauge("repurposer_alert", "1 while a health alert fires (see /healthz?detail=1)", ["name"])
    for alert in Alert.objects.all():
        alerts.add_metric([alert.name], 1 if alert.firing else 0)
    yield alerts


@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        return HttpResponse(
            "Scraping needs a staff login or 'Authorization: Bearer <METRICS_TOKEN>'.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(metrics.exposition(_scraped_now()), content_type=CONTENT_TYPE_LATEST)


def _alert_rows() -> list[dict]:
    return [
        {
            "name": a.name,
            "firing": a.firing,
            "message": a.message,
            "value": a.value,
            "since": a.since.isoformat() if a.since else None,
            "checked_at": a.checked_at.isoformat(),
        }
        for a in Alert.objects.all()
    ]


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: this process answers (no database, so a slow database does not get web servers restarted).
    With ?detail=1: the alerts the schedule computed last."""
    if request.GET.get("detail"):
        rows = _alert_rows()
        firing = [r for r in rows if r["firing"]]
        return JsonResponse({"status": "alerting" if firing else "ok", "alerts": rows})
    return HttpResponse("ok\n", content_type="text/plain")


@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when the database, the broker, the channel layer and the disk are all usable, else 503."""
    checks = health.readiness()
    ready = all(c.ok for c in checks)
    body = {"ready": ready, "checks": {c.name: {"ok": c.ok, "message": c.message, "ms": c.ms} for c in checks}}
    return JsonResponse(body, status=200 if ready else 503)
