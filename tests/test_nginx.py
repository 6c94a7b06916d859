"""The production web tier: a real nginx (deploy/nginx.conf) in front of a real daphne with
MEDIA_ACCEL_REDIRECT: WebSockets pass, Range on the final MP4 is served by nginx, another user gets 404,
and a slow reader of a large file leaves daphne's memory flat (the bytes never pass through it)."""

from __future__ import annotations

import asyncio
import os
import time

import psutil
import pytest
from django.db import connection

from jobs import reporter
from jobs.models import ProcessingTask

from . import nginx
from .live import Client, running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not nginx.available(), reason="nginx is not installed (`make test` installs it)"),
]

BIG = 1024**3  # 1 GB, mostly sparse: cheap to make, and buffering any of it would show in daphne's RSS


@pytest.fixture
def tier(media_root, tmp_path, owner, outsider):
    env = {"MEDIA_ACCEL_REDIRECT": "/_media/"}
    with running_stack(connection.settings_dict, media_root, queue=False, extra_env=env) as live:
        proxy = nginx.Nginx(tmp_path / "nginx", upstream=f"127.0.0.1:{live.port}", media_root=media_root).start()
        try:
            yield live, proxy
        finally:
            proxy.stop()


def _finished_task(owner, media_root) -> tuple[ProcessingTask, bytes]:
    task = ProcessingTask.objects.create(owner=owner, title="talk.mp4", status="succeeded")
    final = task.files.path(task.files.FINAL)
    final.parent.mkdir(parents=True, exist_ok=True)
    head = os.urandom(1024 * 1024)
    with open(final, "wb") as fh:
        fh.write(head)
        fh.truncate(BIG)  # the rest is a hole: cheap to make, still BIG bytes to send
        fh.seek(BIG - len(head))
        fh.write(head[::-1])
    reporter.emit(task.pk, "stage", stage="queued", progress=0, message="Queued; waiting for a worker")
    return task, head


def test_nginx_passes_websockets_and_sends_media_with_range_to_the_owner_only(tier, owner, media_root):
    live, proxy = tier
    task, head = _finished_task(owner, media_root)
    alice = Client(proxy.base_url).login("alice", "alice-pass-1234")
    url = f"/tasks/{task.pk}/media/final.mp4"

    whole_head = alice.http.get(url, headers={"Range": "bytes=0-1048575"})
    assert whole_head.status_code == 206
    assert whole_head.headers["content-range"] == f"bytes 0-1048575/{BIG}"
    assert whole_head.content == head
    assert whole_head.headers["content-type"] == "video/mp4"
    assert whole_head.headers["server"].startswith("nginx")
    tail = alice.http.get(url, headers={"Range": f"bytes=-{len(head)}"})
    assert tail.status_code == 206 and tail.content == head[::-1]
    download = alice.http.head(url + "?download=1")
    assert download.status_code == 200 and int(download.headers["content-length"]) == BIG
    assert download.headers["content-disposition"] == 'attachment; filename="talk-repurposed.mp4"'

    # The internal location is not reachable from outside, and another user gets 404 from the app.
    assert alice.http.get(f"/_media/tasks/{task.pk}/final.mp4").status_code == 404
    mallory = Client(proxy.base_url).login("mallory", "mallory-pass-1234")
    assert mallory.http.get(url, headers={"Range": "bytes=0-99"}).status_code == 404

    async def first_event() -> dict:
        async with alice.ws_connect(str(task.pk)) as ws:
            import json

            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    event = asyncio.run(first_event())
    assert event["seq"] == 1 and event["type"] == "stage"
    alice.close()
    mallory.close()


def test_a_slow_reader_of_a_large_file_leaves_daphne_memory_flat(tier, owner, media_root):
    live, proxy = tier
    task, head = _finished_task(owner, media_root)
    alice = Client(proxy.base_url).login("alice", "alice-pass-1234")
    daphne = psutil.Process(live.procs["web"].pid)
    before = daphne.memory_info().rss
    peak = before
    got = 0
    tail = b""
    with alice.http.stream("GET", f"/tasks/{task.pk}/media/final.mp4") as r:
        assert r.status_code == 200
        for block in r.iter_bytes(1024 * 1024):
            got += len(block)
            tail = (tail + block)[-len(head) :]
            if got < 16 * 1024**2:
                time.sleep(0.5)  # 2 MB/s at first, so nginx (not daphne) holds the connection open for a while
            peak = max(peak, daphne.memory_info().rss)
    assert got == BIG and tail == head[::-1]
    # daphne answered with a header only; the 1 GB went from the disk to the socket through nginx.
    assert peak - before < 20 * 1024**2, f"daphne grew by {(peak - before) / 2**20:.0f} MB"
    alice.close()
