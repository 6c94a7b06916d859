"""WebSocket: /ws/tasks/<uuid>/?after=<seq> sends every event of one task, in seq order, exactly once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from jobs.models import ProcessingTask, ProgressUpdate
from jobs.reporter import group_name
from ops import metrics

from .fanout import ensure_tailer

# Close code for "not yours" (4000–4999 are for applications; 4403 reads as HTTP 403).
NOT_ALLOWED = 4403
# Even with no wake-up, look at the table this often: wake-ups are hints, the rows are the record.
SAFETY_POLL_SECONDS = 3.0


@database_sync_to_async
def _owned_task_exists(task_id: str, user: AbstractBaseUser | AnonymousUser) -> bool:
    return ProcessingTask.objects.for_user(user).filter(pk=task_id).exists()


@database_sync_to_async
def _events_after(task_id: str, seq: int) -> list[dict[str, Any]]:
    rows = ProgressUpdate.objects.filter(task_id=uuid.UUID(task_id)).after(seq)[:500]
    return [row.as_event() for row in rows]


class TaskEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        """Accept owners only; replay what they have not seen, then follow new events."""
        self.task_id = str(self.scope["url_route"]["kwargs"]["task_id"])
        await self.accept()
        user = self.scope.get("user")  # AuthMiddlewareStack (repurposer/asgi.py) always sets it
        if user is None or not await _owned_task_exists(self.task_id, user):
            await self.close(code=NOT_ALLOWED)
            return
        try:
            self.last_seq = max(0, int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        self.lock = asyncio.Lock()
        self.group = group_name(self.task_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        ensure_tailer()
        await self.flush()
        self.poller = asyncio.get_running_loop().create_task(self._safety_poll())
        metrics.websocket_opened()

    async def disconnect(self, code: int) -> None:
        """Stop following the task."""
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "poller"):
            self.poller.cancel()
            metrics.websocket_closed()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients only listen; anything they send is ignored."""

    async def task_wake(self, event: dict[str, Any]) -> None:
        """New rows exist for this task: send the ones this socket has not sent."""
        await self.flush()

    async def flush(self) -> None:
        async with self.lock:
            while True:
                events = await _events_after(self.task_id, self.last_seq)
                for event in events:
                    await self.send_json(event)
                    self.last_seq = event["seq"]
                if len(events) < 500:
                    return

    async def _safety_poll(self) -> None:
        while True:
            await asyncio.sleep(SAFETY_POLL_SECONDS)
            await self.flush()
