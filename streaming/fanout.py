"""Embedded-mode fan-out: each web process tails new ProgressUpdate rows and wakes its own consumers.

With REDIS_URL set the workers send wake-ups through channels-redis instead and this tailer never starts.
Either way a wake-up carries no data: the consumer reads the rows it has not sent yet, so a lost or
duplicated wake-up can only delay an event, never drop or repeat one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from jobs import wakeups
from jobs.models import ProgressUpdate
from jobs.reporter import user_group_name

log = logging.getLogger(__name__)

_tailer: asyncio.Task | None = None


@database_sync_to_async
def _newest_id() -> int:
    return ProgressUpdate.objects.order_by("-id").values_list("id", flat=True).first() or 0


@database_sync_to_async
def _new_rows(after_id: int) -> list[tuple[int, uuid.UUID, int]]:
    rows = ProgressUpdate.objects.filter(id__gt=after_id).order_by("id")
    return list(rows.values_list("id", "task_id", "task__owner_id")[:1000])


async def _tail() -> None:
    layer = get_channel_layer()
    if layer is None:  # settings.py always configures one (in memory, or Redis)
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    last_id = await _newest_id()
    while True:
        try:
            rows = await _new_rows(last_id)
            woken: dict[int, set[str]] = {}
            for _, task_id, owner_id in rows:
                woken.setdefault(owner_id, set()).add(str(task_id))
            for owner_id, tasks in woken.items():  # one wake-up per owner, as the workers send in Redis mode
                named = tasks if len(tasks) <= wakeups.MAX_TASKS else None  # past the cap: read everything
                await layer.group_send(user_group_name(owner_id), wakeups.message(named))
            if rows:
                last_id = rows[-1][0]
                continue  # there may be more; don't sleep
        except Exception:
            log.exception("event tailer failed; retrying")
            await asyncio.sleep(1)
        await asyncio.sleep(settings.EVENT_TAIL_INTERVAL)


def ensure_tailer() -> None:
    """Start this process's tailer once (embedded mode only). Called from the consumer's connect."""
    global _tailer
    if settings.REDIS_URL:
        return
    if _tailer is None or _tailer.done():
        _tailer = asyncio.get_running_loop().create_task(_tail(), name="progress-tailer")
