"""Redis mode's wake-ups (jobs/wakeups.py) through a real Redis: one per group however many are queued, a
bounded queue, and a drain that runs in a multiprocessing child (a qcluster worker) where atexit does not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from jobs import reporter, wakeups

from .live import ROOT

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the PostgreSQL + Redis mode)")


def layer() -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[settings.REDIS_URL])


async def _received(listener: RedisChannelLayer, channel: str, *, quiet: float = 1.0) -> list[dict]:
    """Every message on `channel` until it has been quiet for `quiet` seconds."""
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(listener.receive(channel), quiet))
        except TimeoutError:
            return got


def listen(group: str, send) -> list[dict]:
    """Join `group`, call `send()` (in a thread: it blocks on the drain), and return what arrived."""

    async def run() -> list[dict]:
        listener = layer()
        channel = await listener.new_channel("test.")
        await listener.group_add(group, channel)
        try:
            await asyncio.to_thread(send)
            return await _received(listener, channel)
        finally:
            await listener.group_discard(group, channel)
            await listener.close_pools()

    return asyncio.run(run())


def test_wake_ups_queued_for_one_group_are_sent_as_one_naming_every_task():
    sender = wakeups.Sender()
    group = f"user.test-{uuid.uuid4().hex}"
    tasks = [str(uuid.uuid4()) for _ in range(30)]

    def send() -> None:
        with sender._cond:  # hold the queue: the burst arrives while the sender thread cannot take it
            for task in tasks * 3:
                assert sender.send(group, task)
        assert sender.drain(10)

    got = listen(group, send)
    assert len(got) == 1 and sender.sent == 1, got
    assert got[0]["type"] == "tasks.wake" and set(got[0]["tasks"]) == set(tasks)
    assert wakeups.woken_tasks(got[0]) == set(tasks)


def test_past_the_task_cap_a_wake_up_names_none_and_the_sockets_read_everything():
    sender = wakeups.Sender()
    group = f"user.test-{uuid.uuid4().hex}"

    def send() -> None:
        with sender._cond:
            for _ in range(wakeups.MAX_TASKS + 1):
                sender.send(group, uuid.uuid4())
        assert sender.drain(10)

    got = listen(group, send)
    assert got == [{"type": "tasks.wake"}]
    assert wakeups.woken_tasks(got[0]) is None


def test_the_queue_holds_a_bounded_number_of_groups_and_drops_past_it():
    sender = wakeups.Sender(max_groups=3)
    groups = [f"user.test-{uuid.uuid4().hex}" for _ in range(5)]
    with sender._cond:
        accepted = [sender.send(group, "t") for group in groups]
        again = sender.send(groups[0], "u")  # a group already queued is always taken: it costs nothing
    assert accepted == [True, True, True, False, False] and again
    assert sender.dropped == 2
    assert sender.drain(10) and sender.sent == 3


# A process like a qcluster worker: a multiprocessing child that queues a wake-up as its last act and ends
# (no explicit drain). Run from a fresh interpreter: a fork of pytest itself carries the test session along.
CHILD = """
import sys, multiprocessing, django
django.setup()
from jobs import wakeups
child = multiprocessing.get_context("fork").Process(target=wakeups.sender().send, args=(sys.argv[1], sys.argv[2]))
child.start()
child.join(30)
sys.exit(child.exitcode)
"""


def test_a_multiprocessing_child_sends_what_it_queued_before_it_exits():
    """django-q2's workers are multiprocessing children: they end with os._exit after multiprocessing's
    finalizers, without atexit. The wake-up queued just before the end must still go out."""
    group = f"user.test-{uuid.uuid4().hex}"
    task = str(uuid.uuid4())

    def run_child() -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "repurposer.settings", "REDIS_URL": settings.REDIS_URL}
        done = subprocess.run([sys.executable, "-c", CHILD, group, task], cwd=ROOT, env=env, timeout=120)
        assert done.returncode == 0

    got = listen(group, run_child)
    assert got == [{"type": "tasks.wake", "tasks": [task]}]


@pytest.mark.django_db(transaction=True)
def test_an_event_sends_one_wake_up_to_its_owners_group(owner):
    from jobs.models import ProcessingTask

    task = ProcessingTask.objects.create(owner=owner, title="one wake-up")
    before = wakeups.sender().sent

    def send() -> None:
        reporter.emit(task.pk, "progress", stage="chunk", progress=10)
        assert wakeups.drain(10)

    got = listen(reporter.user_group_name(owner.pk), send)
    assert got == [{"type": "tasks.wake", "tasks": [str(task.pk)]}]
    assert wakeups.sender().sent - before == 1, "one group_send per event, not one per group kind"


@pytest.mark.django_db(transaction=True)
def test_a_job_sends_its_wake_ups_at_its_end_outside_django_qs_signal():
    """Not in post_execute_in_worker (run under the cluster's timer lock, which the guard takes every cycle):
    engine.run_next's own `finally` waits for what the job queued."""
    from django_q.signals import post_execute_in_worker

    from jobs import engine

    assert not [r for r in post_execute_in_worker.receivers if "drain" in repr(r)]
    groups = [f"user.test-{uuid.uuid4().hex}" for _ in range(200)]
    with wakeups.sender()._cond:  # all queued before the sender thread may take any
        for group in groups:
            wakeups.sender().send(group, "t")
    assert engine.run_next(hint="test").startswith("nothing to start")
    assert wakeups.sender().pending() == 0


def test_a_sender_that_cannot_get_its_channel_layer_once_still_sends_the_wake_up(monkeypatch):
    """A failure to make the loop or the layer backs off and tries again with the wake-up kept; it used to
    end the thread, and a group already queued never started another."""
    real = wakeups.get_channel_layer
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("Redis not reachable yet")
        return real(*args, **kwargs)

    monkeypatch.setattr(wakeups, "get_channel_layer", fails_once)
    sender = wakeups.Sender()
    group = f"user.test-{uuid.uuid4().hex}"
    task = str(uuid.uuid4())

    def send() -> None:
        assert sender.send(group, task)
        assert sender.drain(30)

    got = listen(group, send)
    assert got == [{"type": "tasks.wake", "tasks": [task]}]
    assert len(calls) == 2 and sender._thread is not None and sender._thread.is_alive()


def test_a_group_already_queued_restarts_a_sender_thread_that_died():
    sender = wakeups.Sender()
    group = f"user.test-{uuid.uuid4().hex}"
    with sender._cond:
        sender._pending[group] = {"a"}  # queued, as by a thread that then died before taking it
    assert sender._thread is None

    def send() -> None:
        assert sender.send(group, "b")
        assert sender.drain(30)

    got = listen(group, send)
    assert got == [{"type": "tasks.wake", "tasks": ["a", "b"]}]


def test_a_renewed_group_membership_outlives_the_layers_group_expiry(monkeypatch):
    """channels_redis drops a channel from a group group_expiry after it joined; the safety polls' renewal
    (wakeups.renew_group) keeps a long-lived socket or stream in its group. Here with a 2 s expiry."""
    monkeypatch.setattr(wakeups, "GROUP_RENEW_SECONDS", 0.5)

    async def run() -> tuple[list[dict], list[dict]]:
        short = RedisChannelLayer(hosts=[settings.REDIS_URL], group_expiry=2)
        group = f"user.test-{uuid.uuid4().hex}"
        renewed, left = await short.new_channel("test."), await short.new_channel("test.")
        await short.group_add(group, renewed)
        await short.group_add(group, left)
        joined = time.monotonic()
        for _ in range(8):  # 4 s: twice the expiry
            await asyncio.sleep(0.5)
            joined = await wakeups.renew_group(short, group, renewed, joined)
        await short.group_send(group, wakeups.message({"t"}))
        try:
            return await _received(short, renewed), await _received(short, left)
        finally:
            await short.close_pools()

    got, control = asyncio.run(run())
    assert got == [{"type": "tasks.wake", "tasks": ["t"]}]
    assert control == [], "the channel not renewed has expired from the group"


class _CountingLayer(RedisChannelLayer):
    """The real layer, counting the group_sends in flight at once."""

    in_flight = 0
    most = 0

    async def group_send(self, group, message):
        type(self).in_flight += 1
        type(self).most = max(type(self).most, type(self).in_flight)
        try:
            await asyncio.sleep(0.01)  # each send lasts a little, as against a loaded Redis
            await super().group_send(group, message)
        finally:
            type(self).in_flight -= 1


def test_a_full_queue_sends_at_most_a_bounded_number_of_wake_ups_at_once(monkeypatch):
    monkeypatch.setattr(wakeups, "get_channel_layer", lambda: _CountingLayer(hosts=[settings.REDIS_URL]))
    sender = wakeups.Sender()
    with sender._cond:
        for _ in range(100):
            sender.send(f"user.test-{uuid.uuid4().hex}", "t")
    assert sender.drain(30) and sender.sent == 100
    assert 1 < _CountingLayer.most <= wakeups.MAX_CONCURRENT_SENDS


def test_a_task_already_named_does_not_tip_a_full_wake_up_into_naming_none():
    sender = wakeups.Sender()
    group = f"user.test-{uuid.uuid4().hex}"
    tasks = [str(uuid.uuid4()) for _ in range(wakeups.MAX_TASKS)]

    def send() -> None:
        with sender._cond:
            for task in tasks:
                sender.send(group, task)
            sender.send(group, tasks[0])  # again: still the same MAX_TASKS tasks
        assert sender.drain(10)

    got = listen(group, send)
    assert len(got) == 1 and set(got[0]["tasks"]) == set(tasks)
