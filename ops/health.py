"""Readiness (database, broker, channel layer, disk), the live-cluster heartbeat, and the start-up check."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from . import disk

log = logging.getLogger(__name__)


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    ms: float


def _timed(name: str, probe: Any) -> Check:
    started = time.monotonic()
    try:
        message = probe() or "ok"
        ok = True
    except Exception as exc:  # noqa: BLE001 - every failure is the answer, as a sentence
        ok, message = False, f"{type(exc).__name__}: {exc}"
    return Check(name, ok, message, round((time.monotonic() - started) * 1000, 1))


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return f"{connection.vendor} answers"


def _broker() -> str:
    # The queue is django-q2's ORM broker: its table on the same database must be readable.
    from django_q.models import OrmQ

    return f"{OrmQ.objects.count()} job(s) queued"


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    finally:
        client.close()


def _channel_layer() -> str:
    if not settings.REDIS_URL:
        return "in-process (embedded mode)"
    _redis_ping(settings.REDIS_URL)
    return "Redis answers"


def _disk() -> str:
    free = disk.free_bytes()
    if free < settings.DISK_MIN_FREE_BYTES:
        raise RuntimeError(f"only {free / 1024**3:.1f} GB free; new work is refused below the threshold")
    return f"{free / 1024**3:.1f} GB free"


def readiness() -> list[Check]:
    return [
        _timed("database", _database),
        _timed("broker", _broker),
        _timed("channel_layer", _channel_layer),
        _timed("disk", _disk),
    ]


def live_clusters() -> list[dict[str, Any]]:
    """The django-q2 clusters whose sentinel published a heartbeat in the last few seconds (its Stat)."""
    from django_q.brokers import get_broker
    from django_q.status import Stat

    found = []
    for stat in Stat.get_all(get_broker()):
        found.append(
            {
                "cluster": str(stat.cluster_id),
                "host": stat.host,
                "status": stat.status,
                "workers": len(stat.workers),
                "uptime": round(stat.uptime(), 1),
            }
        )
    return found


def startup_problems() -> list[str]:
    """What a server must not start without: the database, and Redis when REDIS_URL names one."""
    problems = []
    try:
        _database()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"The database ({settings.DATABASES['default']['ENGINE']}) cannot be reached: {exc}")
    if settings.REDIS_URL:
        try:
            _redis_ping(settings.REDIS_URL)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"REDIS_URL={settings.REDIS_URL} is configured but cannot be reached: {exc}")
    return problems


def refuse_start_if_unreachable(what: str) -> None:
    """Exit with a sentence (status 3) when a configured service cannot be reached, instead of serving 1011s."""
    import sys

    problems = startup_problems()
    if problems:
        sys.stderr.write(f"{what} cannot start:\n" + "".join(f"  - {p}\n" for p in problems))
        sys.stderr.flush()
        raise SystemExit(3)


__all__ = ["Check", "live_clusters", "readiness", "refuse_start_if_unreachable", "startup_problems"]
