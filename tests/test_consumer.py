"""The WebSocket consumer through the real ASGI application (origin check, auth, routing)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from jobs import reporter
from repurposer.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(client, user) -> bytes:
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator(task_id, cookie: bytes, *, after=0, origin=b"http://localhost"):
    return WebsocketCommunicator(
        application, f"/ws/tasks/{task_id}/?after={after}", headers=[(b"origin", origin), (b"cookie", cookie)]
    )


@pytest.fixture
def task_with_events(make_task, h264_file):
    task = make_task(h264_file)
    for i in range(5):
        reporter.emit(task.pk, "progress", stage="chunk", progress=i * 10, message=f"event {i + 1}")
    return task


async def receive_all(comm, quiet=0.5):
    """Everything the consumer sends until it has been quiet for `quiet` seconds."""
    got = []
    while not await comm.receive_nothing(timeout=quiet):
        got.append(await comm.receive_json_from())
    return got


async def test_it_replays_the_events_after_the_given_seq(client, owner, task_with_events):
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(task_with_events.pk, cookie, after=2)
    connected, _ = await comm.connect()
    assert connected
    got = await receive_all(comm)
    assert [e["seq"] for e in got] == [3, 4, 5]
    assert got[0]["message"] == "event 3" and got[0]["task"] == str(task_with_events.pk)
    await comm.disconnect()


async def test_it_follows_new_events_exactly_once(client, owner, task_with_events):
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(task_with_events.pk, cookie, after=5)
    connected, _ = await comm.connect()
    assert connected
    assert await receive_all(comm, quiet=0.3) == []
    for i in range(3):
        await database_sync_to_async(reporter.emit)(task_with_events.pk, "progress", message=f"live {i}")
    got = []
    while len(got) < 3:
        got.append(await comm.receive_json_from(timeout=5))
    assert [e["seq"] for e in got] == [6, 7, 8]
    assert await receive_all(comm, quiet=0.5) == []  # nothing twice
    await comm.disconnect()


async def test_other_users_are_closed_with_4403(client, outsider, task_with_events):
    cookie = await database_sync_to_async(session_cookie)(client, outsider)
    comm = communicator(task_with_events.pk, cookie)
    connected, _ = await comm.connect()
    assert connected  # accepted so that the close code reaches the browser
    closed = await comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4403}
    await comm.disconnect()  # as daphne does after a close; the consumer then leaves the channel layer


async def test_anonymous_users_are_closed_with_4403(task_with_events):
    comm = communicator(task_with_events.pk, b"")
    await comm.connect()
    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    await comm.disconnect()


async def test_a_foreign_origin_is_refused(client, owner, task_with_events):
    cookie = await database_sync_to_async(session_cookie)(client, owner)
    comm = communicator(task_with_events.pk, cookie, origin=b"http://evil.example")
    connected, _ = await comm.connect()
    assert not connected
