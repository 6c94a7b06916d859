"""Server-Sent Events over the ProgressUpdate rows: replay after a seq, then follow, then end.

Each stream is an async generator (Django's StreamingHttpResponse with an async iterator, served by daphne).
A waiting stream holds no thread and no database connection: it sleeps until a wake-up naming its task
arrives (in its owner's channel-layer group, which the WebSocket consumers listen to, fed by
streaming.fanout's tailer or by the workers in Redis mode) or a slow safety poll comes round, then reads the new rows in a shared worker
thread, closes that thread's connection and sleeps again. Wake-ups are only hints; the rows are the
record, so a client that reconnects with Last-Event-ID misses nothing and gets nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from jobs import wakeups
from jobs.models import ProcessingTask, ProgressUpdate
from jobs.reporter import user_group_name
from streaming.fanout import ensure_tailer

log = logging.getLogger(__name__)

# Without a wake-up, look at the rows this often anyway (as the WebSocket consumer does); and send a comment
# line this often on an idle stream so that proxies and browsers keep it open. Module constants (tests change them).
POLL_SECONDS = 3.0
HEARTBEAT_SECONDS = 15.0
# Rows read per query; a long replay is sent in batches of this size.
BATCH = 200
# The events after which a task sends nothing more.
FINAL_TYPES = frozenset({"complete", "error", "cancelled"})
# Reads that fail in a row before a stream gives up (the client then reconnects and resumes).
MAX_READ_FAILURES = 5
# Browsers wait this long before reconnecting an EventSource that dropped (milliseconds).
RETRY_MS = 3000


def frame(data: dict, *, seq: int | None = None, event: str | None = None) -> str:
    """One SSE message. The JSON is on one line (json.dumps escapes newlines inside strings)."""
    lines = []
    if event:
        lines.append(f"event: {event}")
    if seq is not None:
        lines.append(f"id: {seq}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def last_event_id(request: HttpRequest) -> int:
    """Where a reconnecting client left off: the Last-Event-ID header, else ?last_event_id=, else 0."""
    for value in (request.headers.get("Last-Event-ID"), request.GET.get("last_event_id")):
        if value is not None:
            try:
                return max(0, int(str(value).strip()))
            except ValueError:
                return 0
    return 0


# Turns one event (ProgressUpdate.as_event()) of `task` into SSE text. Runs in a worker thread, so it may
# query the database (e.g. to gather the ideas for a final summary).
Render = Callable[[dict, ProcessingTask], str]


@dataclass
class _Batch:
    frames: list[str] = field(default_factory=list)
    last_seq: int = 0
    done: bool = False


def _read(task_id: Any, after: int, render: Render) -> _Batch:
    """New events of the task after `after`, rendered; done=True once the task's final event is among them,
    or the task is finished (or gone) with nothing left to send."""
    try:
        task = ProcessingTask.objects.filter(pk=task_id).first()
        if task is None:
            return _Batch(last_seq=after, done=True)
        if task.last_seq <= after:
            return _Batch(last_seq=after, done=task.is_finished)
        batch = _Batch(last_seq=after)
        for row in ProgressUpdate.objects.filter(task_id=task_id).after(after)[:BATCH]:
            event = row.as_event()
            batch.frames.append(render(event, task))
            batch.last_seq = row.seq
            if row.type in FINAL_TYPES and task.is_finished:
                batch.done = True
                break
        return batch
    finally:
        # A waiting client must not keep a connection open between polls (PostgreSQL counts them).
        connection.close()


def _group_of(task_id: Any) -> str | None:
    """The wake-up group of the task's owner (None: the task is gone; the first read ends the stream)."""
    try:
        owner_id = ProcessingTask.objects.filter(pk=task_id).values_list("owner_id", flat=True).first()
        return None if owner_id is None else user_group_name(owner_id)
    finally:
        connection.close()


async def _subscribe(task_id: Any) -> tuple[Any, str | None, str | None]:
    """Join the wake-up group of the task's owner. (None, None, None) when there is no channel layer: polls
    alone then."""
    layer = get_channel_layer()
    if layer is None:
        return None, None, None
    try:
        group = await sync_to_async(_group_of, thread_sensitive=False)(task_id)
        if group is None:
            return None, None, None
        channel = await layer.new_channel("sse.")
        await layer.group_add(group, channel)
        ensure_tailer()
    except Exception:
        log.warning("no wake-ups for the stream of task %s; polling only", task_id, exc_info=True)
        return None, None, None
    return layer, channel, group


async def _wake_on_messages(layer: Any, channel: str, task_id: Any, woken: asyncio.Event) -> None:
    """Wake the stream on the wake-ups that may be for its task (the owner's group hears of all their tasks)."""
    try:
        while True:
            tasks = wakeups.woken_tasks(await layer.receive(channel))
            if tasks is None or str(task_id) in tasks:
                woken.set()
    except asyncio.CancelledError:
        raise
    except Exception:  # the layer went away (Redis down): the safety poll carries on
        log.warning("wake-ups for channel %s stopped", channel, exc_info=True)


def _release_request_thread() -> None:
    """Let the idle thread Django keeps for this request go.

    Django runs the (synchronous) middleware of each request in a one-thread executor of its own
    (asgiref's ThreadSensitiveContext) that lives until the response ends: for a stream, as long as the
    client listens. By now the middleware is done and this stream needs no thread of its own, so the
    executor is shut down; a later thread-sensitive call in this request (closing the response) starts a
    fresh one, which Django shuts down as usual. If asgiref changes these internals, nothing happens;
    requirements.txt pins asgiref and Django exactly and tests/test_private_hooks.py trips when they move.
    """
    try:
        context = SyncToAsync.thread_sensitive_context.get(None)
        executor = SyncToAsync.context_to_thread_executor.pop(context, None) if context is not None else None
    except (AttributeError, TypeError):
        return
    if executor is not None:
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)


async def follow(task_id: Any, *, after: int, render: Render) -> AsyncIterator[str]:
    """Every event of the task after `after`, then new ones as they are written, until the final one.

    Stops when the client goes away: Django cancels the task that iterates this generator.
    """
    read = sync_to_async(_read, thread_sensitive=False)
    woken = asyncio.Event()
    layer, channel, group = await _subscribe(task_id)
    listener = None
    if layer is not None and channel is not None:
        listener = asyncio.create_task(_wake_on_messages(layer, channel, task_id, woken))
    try:
        yield f"retry: {RETRY_MS}\n\n"
        _release_request_thread()
        quiet_since = joined = time.monotonic()
        failures = 0
        while True:
            if layer is not None and channel is not None and group is not None:
                joined = await wakeups.renew_group(layer, group, channel, joined)
            woken.clear()  # before reading: a wake-up during the read is kept for the next round
            try:
                batch = await read(task_id, after, render)
                failures = 0
            except Exception:
                # A database blip: keep the client (it has seen nothing wrong) and try again at the next poll.
                failures += 1
                log.warning("reading events of task %s failed (%d in a row)", task_id, failures, exc_info=True)
                if failures >= MAX_READ_FAILURES:
                    return  # the client reconnects with Last-Event-ID and misses nothing
                await asyncio.sleep(POLL_SECONDS)
                continue
            for text in batch.frames:
                yield text
            if batch.frames:
                quiet_since = time.monotonic()
            after = batch.last_seq
            if batch.done:
                return
            if len(batch.frames) >= BATCH:
                continue  # a long replay: the next batch at once
            if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            wait = min(POLL_SECONDS, max(0.01, HEARTBEAT_SECONDS - (time.monotonic() - quiet_since)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), wait)
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(Exception):
                await layer.group_discard(group, channel)


def response(stream: AsyncIterator[str]) -> StreamingHttpResponse:
    out = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    out["Cache-Control"] = "no-cache"
    out["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return out


def nothing_more() -> HttpResponse:
    """The answer to a reconnect after the final event: 204 tells an EventSource to stop reconnecting."""
    return HttpResponse(status=204)
