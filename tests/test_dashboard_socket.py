"""The user socket /ws/tasks/ through the real ASGI application: every event of the user's own tasks, each with
its row id and its task's status as it stands; nothing of anyone else's; a reconnect with ?after=<id> misses
nothing, even a row that became visible after one with a higher id (a late commit)."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from jobs import reporter
from jobs.models import ProcessingTask, ProgressUpdate
from repurposer.asgi import application

from .test_consumer import receive_all, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(cookie: bytes, *, after: int | None = None):
    query = "" if after is None else f"?after={after}"
    return WebsocketCommunicator(
        application, f"/ws/tasks/{query}", headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)]
    )


def make(owner, title: str) -> ProcessingTask:
    return ProcessingTask.objects.create(owner=owner, title=title)


def set_status(task: ProcessingTask, status: str) -> None:
    ProcessingTask.objects.filter(pk=task.pk).update(status=status)


def emit(task: ProcessingTask, type: str = "progress", **kw) -> ProgressUpdate:
    return reporter.emit(task.pk, type, **kw)


async def receive_until(comm, wanted: set, timeout: float = 8.0) -> list[dict]:
    """Events until every (task, seq) in `wanted` came (duplicates kept: the test looks at them too)."""
    got: list[dict] = []
    seen: set = set()
    deadline = time.monotonic() + timeout
    while not wanted <= seen:
        left = deadline - time.monotonic()
        assert left > 0, f"missing {wanted - seen}; got {[(e['task'], e['seq']) for e in got]}"
        event = await comm.receive_json_from(timeout=left)
        got.append(event)
        seen.add((event["task"], event["seq"]))
    return got


def keys(events) -> set:
    return {(e["task"], e["seq"]) for e in events}


async def test_it_sends_every_event_of_the_users_tasks_with_its_id_and_status(client, owner):
    a, b = await database_sync_to_async(make)(owner, "a"), await database_sync_to_async(make)(owner, "b")
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(cookie)  # no `after`: from now on
    connected, _ = await comm.connect()
    assert connected
    assert await receive_all(comm, quiet=0.3) == []
    await database_sync_to_async(set_status)(b, "running")
    rows = [
        await database_sync_to_async(emit)(a, "stage", stage="queued", progress=0),
        await database_sync_to_async(emit)(b, "stage", stage="probe", progress=1),
    ]
    got = await receive_until(comm, {(str(r.task_id), r.seq) for r in rows})
    await database_sync_to_async(set_status)(a, "succeeded")  # the engine saves the status, then says so
    rows.append(await database_sync_to_async(emit)(a, "complete", stage="done", progress=100))
    got += await receive_until(comm, {(str(rows[-1].task_id), rows[-1].seq)})
    by_key = {(e["task"], e["seq"]): e for e in got}
    assert [by_key[(str(r.task_id), r.seq)]["id"] for r in rows] == [r.id for r in rows]
    assert [by_key[(str(r.task_id), r.seq)]["status"] for r in rows] == ["queued", "running", "succeeded"]
    assert by_key[(str(b.pk), 1)]["stage"] == "probe" and by_key[(str(a.pk), 2)]["progress"] == 100
    assert await receive_all(comm, quiet=0.5) == []  # nothing twice
    await comm.disconnect()


async def test_a_task_made_after_the_socket_opened_is_followed_too(client, owner):
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(cookie)
    assert (await comm.connect())[0]
    task = await database_sync_to_async(make)(owner, "new")
    row = await database_sync_to_async(emit)(task, "stage", stage="queued", progress=0)
    got = await receive_until(comm, {(str(task.pk), row.seq)})
    assert got[-1]["task"] == str(task.pk) and got[-1]["id"] == row.id
    await comm.disconnect()


async def test_an_outsider_gets_nothing_of_the_owners_tasks(client, owner, outsider):
    theirs = await database_sync_to_async(make)(owner, "alice's")
    mine = await database_sync_to_async(make)(outsider, "mallory's")
    cookie = await database_sync_to_async(session_cookie)(client, outsider)
    comm = communicator(cookie, after=0)  # even asking for everything from the start
    assert (await comm.connect())[0]
    for i in range(3):
        await database_sync_to_async(emit)(theirs, message=f"secret {i}")
    own = await database_sync_to_async(emit)(mine, message="mine")
    got = await receive_until(comm, {(str(mine.pk), own.seq)})
    got += await receive_all(comm, quiet=0.5)
    assert {e["task"] for e in got} == {str(mine.pk)}
    await comm.disconnect()


async def test_anonymous_users_are_closed_with_4403():
    comm = communicator(b"")
    await comm.connect()
    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    await comm.disconnect()


async def test_a_reconnect_after_the_last_id_seen_misses_nothing(client, owner):
    a, b = await database_sync_to_async(make)(owner, "a"), await database_sync_to_async(make)(owner, "b")
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    first = [await database_sync_to_async(emit)(t, message="before") for t in (a, b, a)]
    comm = communicator(cookie, after=first[0].id)
    assert (await comm.connect())[0]
    got = await receive_until(comm, {(str(r.task_id), r.seq) for r in first[1:]})
    last_id = max(e["id"] for e in got)
    await comm.disconnect()

    # While the page is away: more events, of both tasks and of a task made meanwhile.
    c = await database_sync_to_async(make)(owner, "c")
    away = [await database_sync_to_async(emit)(t, message="while away") for t in (b, c, a, b)]
    comm = communicator(cookie, after=last_id)
    assert (await comm.connect())[0]
    again = await receive_until(comm, {(str(r.task_id), r.seq) for r in away})
    again += await receive_all(comm, quiet=0.5)
    # What came is what was missed, plus (at most) a few seconds of what was seen, which the client skips.
    assert keys(again) - keys(got) - {(str(first[0].task_id), first[0].seq)} == {(str(r.task_id), r.seq) for r in away}
    assert len(again) == len(keys(again)), "each event once per connection"
    await comm.disconnect()


def _late_row(task: ProcessingTask, row_id: int) -> ProgressUpdate:
    """A row that got its id before rows the socket has sent and becomes visible only now: what a transaction
    that commits after a later one leaves on PostgreSQL."""
    seq = task.last_seq + 1
    ProcessingTask.objects.filter(pk=task.pk).update(last_seq=seq, progress=55)
    row = ProgressUpdate.objects.create(id=row_id, task=task, seq=seq, type="progress", progress=55, message="late")
    reporter.wake(task.pk, task.owner_id)  # Redis mode: the wake-up after its commit; embedded: the table is read
    return row


async def test_a_row_committed_after_a_later_one_still_arrives(client, owner):
    a, b = await database_sync_to_async(make)(owner, "a"), await database_sync_to_async(make)(owner, "b")
    await database_sync_to_async(emit)(a, message="a1")
    await database_sync_to_async(emit)(b, message="b1")
    hole = await database_sync_to_async(emit)(a, message="to be taken back")
    await database_sync_to_async(ProgressUpdate.objects.filter(pk=hole.pk).delete)()
    await database_sync_to_async(ProcessingTask.objects.filter(pk=a.pk).update)(last_seq=1)
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(cookie)
    assert (await comm.connect())[0]
    later = await database_sync_to_async(emit)(b, message="b2: a higher id, seen first")
    got = await receive_until(comm, {(str(b.pk), later.seq)})
    assert got[-1]["id"] > hole.id
    task_a = await database_sync_to_async(ProcessingTask.objects.get)(pk=a.pk)
    late = await database_sync_to_async(_late_row)(task_a, hole.id)
    got = await receive_until(comm, {(str(a.pk), late.seq)})
    assert got[-1]["id"] == hole.id < later.id and got[-1]["message"] == "late"
    await comm.disconnect()


async def test_a_regenerate_event_on_a_finished_task_says_its_real_status(client, owner):
    task = await database_sync_to_async(make)(owner, "done")
    await database_sync_to_async(set_status)(task, "succeeded")
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(cookie)
    assert (await comm.connect())[0]
    rows = [
        await database_sync_to_async(emit)(task, "piece_ready", data={"idea": 1}),
        await database_sync_to_async(emit)(task, "thumbnail_ready", data={"kind": "thumbnail", "slot": 0}),
    ]
    got = await receive_until(comm, {(str(r.task_id), r.seq) for r in rows})
    assert [e["status"] for e in got] == ["succeeded", "succeeded"]  # not "running": the task had ended
    await comm.disconnect()


def test_the_events_and_their_tasks_status_are_one_query(owner, django_assert_num_queries):
    from asgiref.sync import async_to_sync
    from django.utils import timezone

    from streaming.consumers import _task_events_after, _user_events

    tasks = [make(owner, f"t{i}") for i in range(3)]
    for task in tasks:
        emit(task, "piece_ready")
    with django_assert_num_queries(1):
        got = async_to_sync(_user_events)(owner.pk, after_id=0, since=timezone.now(), task=None, start=0)
    assert len(got) == 3 and {e["status"] for e in got} == {"queued"}
    with django_assert_num_queries(1):
        assert len(async_to_sync(_task_events_after)(owner.pk, str(tasks[0].pk), 0)) == 1
