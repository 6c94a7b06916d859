"""The operator dashboard at /performance/ (staff): the seed's sections from the rows and the metrics, and
plots over time. The page draws with uPlot (static/vendor/uplot, from npm) and polls `dashboard_data`."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from statistics import median
from typing import Any

import psutil
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Avg, F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.models import PerformanceMetrics, ProcessingTask

from . import disk, metrics
from .models import Alert, Sample

HOURS = 24


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _hour(t: datetime) -> int:
    return int(t.timestamp()) // 3600 * 3600


def _series(since: datetime) -> dict[str, Any]:
    """Hourly buckets since `since` (x: unix seconds), and the minute samples."""
    hours = list(range(_hour(since), _hour(timezone.now()) + 1, 3600))
    created = dict.fromkeys(hours, 0)
    finished = dict.fromkeys(hours, 0)
    failed = dict.fromkeys(hours, 0)
    for made in ProcessingTask.objects.filter(created_at__gte=since).values_list("created_at", flat=True):
        created[_hour(made)] = created.get(_hour(made), 0) + 1
    for done, status in ProcessingTask.objects.filter(finished_at__gte=since).values_list("finished_at", "status"):
        if done is None:
            continue
        finished[_hour(done)] = finished.get(_hour(done), 0) + 1
        failed[_hour(done)] = failed.get(_hour(done), 0) + (status == ProcessingTask.Status.FAILED)
    stage_ms: dict[int, list[float]] = {h: [] for h in hours}
    for at, ms in PerformanceMetrics.objects.filter(created_at__gte=since, operation="chunk").values_list(
        "created_at", "duration_ms"
    ):
        stage_ms.setdefault(_hour(at), []).append(ms)
    samples = list(Sample.objects.filter(at__gte=since).values_list("at", "queue_depth", "running", "disk_free_bytes"))
    return {
        "hours": hours,
        "tasks_per_hour": [created[h] for h in hours],
        "error_rate": [round(failed[h] / finished[h], 3) if finished[h] else None for h in hours],
        "chunk_p50_ms": [_pct(stage_ms.get(h, []), 0.5) for h in hours],
        "chunk_p95_ms": [_pct(stage_ms.get(h, []), 0.95) for h in hours],
        "minutes": [int(s[0].timestamp()) for s in samples],
        "queue_depth": [s[1] for s in samples],
        "running": [s[2] for s in samples],
        "disk_free_gb": [round(s[3] / 1024**3, 2) for s in samples],
    }


def _providers(since: datetime) -> dict[str, Any]:
    """LLM/speech performance and rate limiting, from the provider.* PerformanceMetrics rows."""
    by_op: dict[str, list[tuple[float, bool, dict]]] = {}
    for op, ms, ok, data in PerformanceMetrics.objects.filter(
        created_at__gte=since, operation__startswith="provider."
    ).values_list("operation", "duration_ms", "success", "data"):
        by_op.setdefault(op.removeprefix("provider."), []).append((ms, ok, data or {}))
    calls: dict[str, dict[str, Any]] = {}
    waited: list[float] = []
    for op, rows in sorted(by_op.items()):
        durations = [ms for ms, _, _ in rows]
        waits = [float(d.get("waited_ms") or 0) for _, _, d in rows]
        waited += waits
        calls[op] = {
            "count": len(rows),
            "success_rate": round(sum(ok for _, ok, _ in rows) / len(rows), 3),
            "p50_ms": round(median(durations), 1),
            "p95_ms": _pct(durations, 0.95),
            "retries": sum(int(d.get("retries") or 0) for _, _, d in rows),
        }
    minutes = max(1.0, (timezone.now() - since).total_seconds() / 60)
    return {
        "calls": calls,
        "rate_limit": {
            "requests_per_minute": round(sum(c["count"] for c in calls.values()) / minutes, 2),
            "calls_that_waited": sum(1 for w in waited if w > 1),
            "mean_wait_ms": round(sum(waited) / len(waited), 1) if waited else 0,
            "max_wait_ms": round(max(waited), 1) if waited else 0,
        },
    }


def dashboard_data() -> dict[str, Any]:
    now = timezone.now()
    since = now - timedelta(hours=HOURS)
    done = ProcessingTask.objects.filter(
        status=ProcessingTask.Status.SUCCEEDED, finished_at__gte=since, started_at__isnull=False
    )
    avg = done.aggregate(d=Avg(F("finished_at") - F("started_at")))["d"]
    memory = psutil.virtual_memory()
    return {
        "at": now.isoformat(),
        "load": {
            "active_streams": metrics.current("repurposer_websockets"),
            "running": ProcessingTask.objects.filter(status=ProcessingTask.Status.RUNNING).count(),
            "queue_size": ProcessingTask.objects.filter(status=ProcessingTask.Status.QUEUED).count(),
            "avg_processing_seconds": round(avg.total_seconds(), 1) if avg else None,
        },
        "providers": _providers(now - timedelta(hours=1)),
        "system": {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "memory_percent": memory.percent,
            "disk_free_gb": round(disk.free_bytes() / 1024**3, 2),
        },
        "alerts": [
            {
                "name": a.name,
                "firing": a.firing,
                "message": a.message,
                "since": a.since.isoformat() if a.since else None,
            }
            for a in Alert.objects.all()
        ],
        "series": _series(since),
    }


@staff_member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    data = dashboard_data()
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(data)
    return render(request, "ops/dashboard.html", {"data": data})
