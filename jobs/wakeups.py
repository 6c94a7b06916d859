"""Wake-ups to the web processes in Redis mode: one sender loop per process, a bounded queue that coalesces.

A wake-up carries no data. It tells the sockets in one user's group "read what is new" (naming the tasks as a
hint), so wake-ups queued for one group are one: the queue maps a group to the tasks it names and holds at
most `MAX_GROUPS` groups. A wake-up for a further group is dropped and counted; the sockets' safety poll
reads those rows a few seconds later. `emit` queues a wake-up after its commit and returns at once; one
daemon thread per process sends them from one event loop, reusing its Redis connections (a new
`async_to_sync` per event made a loop and a connection pool each time).

What is queued is sent before the process ends:
1. at the end of every django-q job that emits (a `finally` in `engine.run_next` and the jobs/tasks.py
   entry points), because the worker may be recycled right after it. Not in django-q2's
   `post_execute_in_worker` signal: that runs while the worker holds the cluster's timer lock, which the
   sentinel's guard takes every cycle, so a slow Redis would stall the whole cluster's guard;
2. at exit, through a `multiprocessing.util.Finalize`: qcluster workers are multiprocessing children, which
   end with `os._exit` after running those finalizers but never run `atexit`; an ordinary process (daphne,
   a management command) runs them from multiprocessing's own `atexit` hook.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from multiprocessing import util
from typing import Any

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

MAX_GROUPS = 1000
# A wake-up naming more tasks than this names none: the sockets then read everything new of the user's.
MAX_TASKS = 50
# group_sends in flight at once: a full queue (MAX_GROUPS) must not open a thousand Redis connections.
MAX_CONCURRENT_SENDS = 16
# How long the process's exit, or a job's end, waits for the queue to empty (Redis down: it gives up).
DRAIN_SECONDS = 5.0
JOB_DRAIN_SECONDS = 2.0
# A socket's or stream's group membership expires after the layer's group_expiry (channels_redis: 24 h), and
# a wake-up is never sent to it again: the safety poll joins the group again this often.
GROUP_RENEW_SECONDS = 3600.0
# The sender thread's back-off when it cannot make its event loop or channel layer.
RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 5.0


def message(tasks: set[str] | None) -> dict[str, Any]:
    """The channel-layer message: the consumers' `tasks_wake`; no "tasks" means any of the user's."""
    if tasks is None:
        return {"type": "tasks.wake"}
    return {"type": "tasks.wake", "tasks": sorted(tasks)}


async def renew_group(layer: Any, group: str, channel: str, last: float) -> float:
    """Join `group` again if it was joined GROUP_RENEW_SECONDS ago (before group_expiry drops the channel);
    the time it was last joined."""
    now = time.monotonic()
    if now - last < GROUP_RENEW_SECONDS:
        return last
    try:
        await layer.group_add(group, channel)
    except Exception:  # Redis down: the safety poll carries on; try again next time round
        log.warning("could not renew %s's membership of %s", channel, group, exc_info=True)
        return last
    return now


def woken_tasks(event: dict[str, Any]) -> set[str] | None:
    """The tasks a wake-up names, or None when it may be any (a coalesced one past MAX_TASKS)."""
    if "tasks" in event:
        return {str(task) for task in event["tasks"]}
    if event.get("task"):  # the single-task form, as sent before wake-ups were coalesced
        return {str(event["task"])}
    return None


class Sender:
    """This process's queue of wake-ups and the thread that sends them."""

    def __init__(self, *, max_groups: int = MAX_GROUPS) -> None:
        self.pid = os.getpid()
        self.max_groups = max_groups
        self.sent = 0  # group_send calls made
        self.dropped = 0  # wake-ups refused because the queue was full
        self._cond = threading.Condition()
        self._pending: dict[str, set[str] | None] = {}
        self._sending = False
        self._thread: threading.Thread | None = None
        self._finalizer: util.Finalize | None = None

    def send(self, group: str, task: Any = None) -> bool:
        """Queue a wake-up for `group` (naming `task`); False if it was dropped because the queue is full."""
        if self.pid != os.getpid():  # a forked child holding its parent's sender: its own one sends
            return sender().send(group, task)
        with self._cond:
            if group in self._pending:
                tasks = self._pending[group]
                if tasks is not None:
                    if task is None:
                        self._pending[group] = None
                    elif str(task) in tasks:
                        pass  # named already: a full set still names exactly the tasks woken
                    elif len(tasks) >= MAX_TASKS:
                        self._pending[group] = None
                    else:
                        tasks.add(str(task))
                self._start()  # a sender thread that died would otherwise never send this group again
                return True  # already queued: the one wake-up covers this one too
            if len(self._pending) >= self.max_groups:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("wake-up queue full (%d groups): %d dropped so far", self.max_groups, self.dropped)
                return False
            self._pending[group] = None if task is None else {str(task)}
            self._start()
            self._cond.notify_all()
            return True

    def pending(self) -> int:
        with self._cond:
            return len(self._pending) + (1 if self._sending else 0)

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait until everything queued has been sent (or failed); False if `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                return not self._pending
            while self._pending or self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="wake-up-sender", daemon=True)
        self._thread.start()
        if self._finalizer is None:  # once, however often the thread is restarted
            self._finalizer = util.Finalize(self, _drain_at_exit, exitpriority=10)

    def _run(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        layer: Any = None
        failures = 0
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending, {}
                self._sending = True
            try:
                # Made here, in the try: a failure to make them backs off and tries again with the batch
                # queued, rather than ending the thread (send() restarts a dead one, but only when called).
                if loop is None:
                    loop = asyncio.new_event_loop()
                if layer is None:
                    layer = get_channel_layer()
                    if layer is None:
                        raise RuntimeError("REDIS_URL is set but CHANNEL_LAYERS is not")
            except Exception:
                failures += 1
                log.warning(
                    "wake-up sender cannot start (attempt %d); %d wake-ups kept", failures, len(batch), exc_info=True
                )
                self._requeue(batch)
                time.sleep(min(RETRY_SECONDS * 2 ** (failures - 1), MAX_RETRY_SECONDS))
                continue
            failures = 0
            try:
                loop.run_until_complete(self._send_all(layer, batch))
            except Exception:  # the rows are written; the consumers' periodic check will find them
                log.warning("could not send %d wake-ups", len(batch), exc_info=True)
            finally:
                with self._cond:
                    self._sending = False
                    self._cond.notify_all()

    def _requeue(self, batch: dict[str, set[str] | None]) -> None:
        """Put back a batch that could not be sent, merged with what was queued since (within the bounds)."""
        with self._cond:
            for group, tasks in batch.items():
                if group in self._pending:
                    queued = self._pending[group]
                    if tasks is None or queued is None or len(queued | tasks) > MAX_TASKS:
                        self._pending[group] = None
                    else:
                        queued |= tasks
                elif len(self._pending) < self.max_groups:
                    self._pending[group] = tasks
                else:
                    self.dropped += 1
            self._sending = False
            self._cond.notify_all()

    async def _send_all(self, layer: Any, batch: dict[str, set[str] | None]) -> None:
        slots = asyncio.Semaphore(MAX_CONCURRENT_SENDS)

        async def send(group: str, tasks: set[str] | None) -> None:
            async with slots:
                await layer.group_send(group, message(tasks))

        results = await asyncio.gather(*(send(group, tasks) for group, tasks in batch.items()), return_exceptions=True)
        self.sent += len(batch)
        failed = {group: error for group, error in zip(batch, results, strict=True) if isinstance(error, BaseException)}
        if failed:
            first = next(iter(failed.values()))
            log.warning("could not send wake-ups to %d groups (%s)", len(failed), ", ".join(failed), exc_info=first)


_sender: Sender | None = None
_lock = threading.Lock()


def sender() -> Sender:
    """This process's sender (a forked child gets its own: the parent's thread did not come with it)."""
    global _sender
    with _lock:
        if _sender is None or _sender.pid != os.getpid():
            _sender = Sender()
        return _sender


def drain(timeout: float = DRAIN_SECONDS) -> bool:
    """Send what this process has queued before going on (the end of a job, the end of the process)."""
    current = _sender
    if current is None or current.pid != os.getpid():
        return True
    ok = current.drain(timeout)
    if not ok:
        log.warning("%d wake-ups not sent within %.0f s", current.pending(), timeout)
    return ok


def _drain_at_exit(*args: Any) -> None:
    drain()


def drain_after_job() -> None:
    """At a job's end (no lock held): its last wake-ups go out before the worker takes the next job."""
    try:
        drain(JOB_DRAIN_SECONDS)
    except Exception:  # never let a wake-up turn a job's result into a failure
        log.warning("could not drain wake-ups after a job", exc_info=True)


def _reset_in_child() -> None:
    global _sender, _lock
    _lock = threading.Lock()  # it may have been held by another thread at the fork
    _sender = None


os.register_at_fork(after_in_child=_reset_in_child)
