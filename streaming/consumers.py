"""WebSockets. /ws/tasks/<uuid>/?after=<seq>: every event of one task, in seq order, exactly once.
/ws/tasks/?after=<event id>: every event of all of the user's tasks (the "My videos" and batch pages)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from jobs import wakeups
from jobs.models import ProcessingTask, ProgressUpdate
from jobs.reporter import user_group_name
from ops import metrics

from .fanout import ensure_tailer

# Close code for "not yours" (4000–4999 are for applications; 4403 reads as HTTP 403).
NOT_ALLOWED = 4403
# Even with no wake-up, look at the table this often: wake-ups are hints, the rows are the record.
SAFETY_POLL_SECONDS = 3.0
# How long an event's transaction may stay open after its row got its id (see EventQuerySet.newer): the user
# socket re-reads this much of the recent past, so a row committed late is still sent.
COMMIT_GRACE = timedelta(seconds=10)
USER_PAGE = 500


@database_sync_to_async
def _owner_of(task_id: str, user: AbstractBaseUser | AnonymousUser) -> int | None:
    """The task's owner when `user` may follow it, else None."""
    return ProcessingTask.objects.for_user(user).filter(pk=task_id).values_list("owner_id", flat=True).first()


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
        owner_id = None if user is None else await _owner_of(self.task_id, user)
        if owner_id is None:
            await self.close(code=NOT_ALLOWED)
            return
        try:
            self.last_seq = max(0, int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        self.lock = asyncio.Lock()
        self.group = user_group_name(owner_id)  # woken for all the owner's tasks; reads on this one's only
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

    async def tasks_wake(self, event: dict[str, Any]) -> None:
        """Some of the owner's tasks have new rows: if this one may be among them, send what is not sent."""
        tasks = wakeups.woken_tasks(event)
        if tasks is None or self.task_id in tasks:
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
        joined = time.monotonic()
        while True:
            await asyncio.sleep(SAFETY_POLL_SECONDS)
            joined = await wakeups.renew_group(self.channel_layer, self.group, self.channel_name, joined)
            await self.flush()


def _query_after(scope: dict) -> int | None:
    try:
        return max(0, int(parse_qs(scope.get("query_string", b"").decode())["after"][0]))
    except (KeyError, ValueError):
        return None


@database_sync_to_async
def _start(user_id: int, after: int | None) -> tuple[int, datetime]:
    """Where a user socket starts: the id it follows from and how far back it re-reads. Without `after`: from
    the newest event; with it: from there, re-reading the grace before that event was written (the client
    saw it then; a row committed later with a lower id must still reach it)."""
    now = timezone.now()
    if after is None:
        newest = ProgressUpdate.objects.order_by("-id").values_list("id", flat=True).first() or 0
        return newest, now - COMMIT_GRACE
    seen_at = ProgressUpdate.objects.filter(id__lte=after).order_by("-id").values_list("created_at", flat=True).first()
    return after, min(now, seen_at or now) - COMMIT_GRACE


@database_sync_to_async
def _user_events(user_id: int, *, after_id: int, since: datetime, task: str | None, start: int) -> list[dict]:
    rows = ProgressUpdate.objects.filter(task__owner_id=user_id, id__gt=start).newer(after_id=after_id, since=since)
    if task is not None:
        rows = rows.filter(task_id=uuid.UUID(task))
    return _with_status(rows)


@database_sync_to_async
def _task_events_after(user_id: int, task: str, seq: int) -> list[dict]:
    rows = ProgressUpdate.objects.filter(task__owner_id=user_id, task_id=uuid.UUID(task)).after(seq)
    return _with_status(rows)


def _with_status(rows: QuerySet[ProgressUpdate]) -> list[dict]:
    """A page of events, each with its row id and its task's status as it stands (one query, the task joined):
    not guessed from the event's type, as a regenerate job's events come on a task that has already ended."""
    return [
        {**row.as_event(), "id": row.id, "status": row.task.status} for row in rows.select_related("task")[:USER_PAGE]
    ]


class UserTasksConsumer(AsyncJsonWebsocketConsumer):
    """Every event of the user's tasks, each with its row `id`; a client reconnects with ?after=<highest id
    it saw> and dedupes by (task, seq): a late-committed row may come again after a reconnect, none is lost."""

    async def connect(self) -> None:
        """Accept signed-in users only; replay from `after`, then follow their tasks."""
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_ALLOWED)
            return
        self.user_id = user.pk
        self.cursor, since = await _start(self.user_id, _query_after(self.scope))
        self.sent: dict[str, int] = {}  # task → highest seq this socket sent
        self.lock = asyncio.Lock()
        self.pending: set[str] = set()
        self.woken = asyncio.Event()
        self.group = user_group_name(self.user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        ensure_tailer()
        await self.flush(since=since)
        loop = asyncio.get_running_loop()
        self.workers = [loop.create_task(self._follow()), loop.create_task(self._safety_poll())]
        metrics.websocket_opened()

    async def disconnect(self, code: int) -> None:
        """Stop following the user's tasks."""
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "workers"):
            for worker in self.workers:
                worker.cancel()
            metrics.websocket_closed()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients only listen; anything they send is ignored."""

    async def tasks_wake(self, event: dict[str, Any]) -> None:
        """Some of the user's tasks have new rows: read those tasks' (soon, with any others woken meanwhile);
        a wake-up that names no task reads everything new."""
        tasks = wakeups.woken_tasks(event)
        if tasks is None:
            self.pending.add("*")
        else:
            self.pending.update(tasks)
        self.woken.set()

    async def flush(self, *, since: datetime | None = None, task: str | None = None) -> None:
        """Send what this socket has not sent: of one task, or (task None) of all the user's, which also
        moves the id cursor on. A task already followed is read by seq, exactly."""
        async with self.lock:
            if task is not None and task in self.sent:
                while True:
                    events = await _task_events_after(self.user_id, task, self.sent[task])
                    await self._send_new(events, move_cursor=False)
                    if len(events) < USER_PAGE:
                        return
            since = since or timezone.now() - COMMIT_GRACE
            start = 0
            while True:
                events = await _user_events(self.user_id, after_id=self.cursor, since=since, task=task, start=start)
                await self._send_new(events, move_cursor=task is None)
                if len(events) < USER_PAGE:
                    return
                start = events[-1]["id"]

    async def _send_new(self, events: list[dict], *, move_cursor: bool) -> None:
        for event in events:
            if event["seq"] > self.sent.get(event["task"], 0):
                await self.send_json(event)
                self.sent[event["task"]] = event["seq"]
            if move_cursor:
                self.cursor = max(self.cursor, event["id"])

    async def _follow(self) -> None:
        while True:
            await self.woken.wait()
            self.woken.clear()
            tasks, self.pending = self.pending, set()
            if "*" in tasks:
                await self.flush()
                continue
            for task in tasks:
                try:
                    uuid.UUID(task)
                except ValueError:
                    continue
                await self.flush(task=task)

    async def _safety_poll(self) -> None:
        joined = time.monotonic()
        while True:
            await asyncio.sleep(SAFETY_POLL_SECONDS)
            joined = await wakeups.renew_group(self.channel_layer, self.group, self.channel_name, joined)
            await self.flush()
