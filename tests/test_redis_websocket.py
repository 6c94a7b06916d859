"""Redis mode: a WebSocket with nothing to say stays open, through a real daphne and channels-redis."""

from __future__ import annotations

import asyncio
import json
import re
from importlib.metadata import version

import pytest
import websockets
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import connection

from jobs import reporter

from .live import ROOT, Client, running_stack

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the PostgreSQL + Redis mode)")

# Longer than a few of channels-redis's blocking reads (RedisChannelLayer.brpop_timeout, 5 s) back to back.
IDLE_SECONDS = 20


@pytest.mark.parametrize("package", ["channels-redis", "redis"])
def test_it_runs_on_the_exact_versions_the_timeout_was_set_against(package):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE))
    assert version(package) == pins.get(package), f"re-check CHANNEL_LAYERS in settings.py before moving {package}"


@needs_redis
def test_the_layer_waits_longer_for_redis_than_a_blocking_read_lasts():
    """redis-py's default socket timeout (5 s) cut channels-redis's 5 s BZPOPMIN short on every idle socket."""
    host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    timeout = host["socket_timeout"]
    assert timeout is None or timeout > RedisChannelLayer.brpop_timeout + 5


@needs_redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_an_idle_websocket_stays_open_and_still_gets_the_next_event(media_root, owner, make_task, tmp_path):
    source = tmp_path / "tiny.mp4"
    source.write_bytes(b"x")
    task = make_task(source)
    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        client = Client(stack.base_url).login("alice", "alice-pass-1234")

        async def idle_then_event() -> dict:
            async with client.ws_connect(str(task.pk)) as ws:
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=IDLE_SECONDS)
                except TimeoutError:
                    pass  # silence, as it should be: the task has no events yet
                except websockets.ConnectionClosed as closed:
                    pytest.fail(f"the idle WebSocket was closed ({closed.rcvd}) within {IDLE_SECONDS} s")
                else:
                    pytest.fail(f"an event arrived for a task that has none: {message}")
                await asyncio.to_thread(reporter.emit, task.pk, "stage", stage="chunk", message="after the quiet")
                return json.loads(await asyncio.wait_for(ws.recv(), timeout=30))

        event = asyncio.run(idle_then_event())
        log = stack.log_text("web")
    assert event["type"] == "stage" and event["message"] == "after the quiet"
    assert "Traceback" not in log, log
