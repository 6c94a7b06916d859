"""Uploads through a real daphne must not balloon the web process's memory."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest
from django.db import connection

from jobs.models import ProcessingTask

from .live import Client, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BODY_MB = 40


class PeakRSS:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "big.mp4"
    path.write_bytes(os.urandom(BODY_MB * 2**20))  # content does not matter: nothing is processed
    return path


@pytest.fixture
def web(media_root, owner):
    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        yield stack, Client(stack.base_url).login("alice", "alice-pass-1234")


def test_a_part_by_part_upload_holds_about_one_part_in_memory(web, big_file):
    stack, client = web
    with PeakRSS(stack.procs["web"].pid) as rss:
        answer = client.upload_in_parts(big_file)
    assert answer["complete"]
    assert ProcessingTask.objects.get(pk=answer["task_id"]).source_file().stat().st_size == BODY_MB * 2**20
    assert rss.growth_mb < 40, f"daphne grew by {rss.growth_mb:.0f} MB for {BODY_MB} MB sent in 8 MB parts"


def test_a_classic_form_upload_is_not_parsed_in_memory_by_twisted(web, big_file):
    """Without the fix in repurposer/asgi.py, Twisted parses the multipart body with the `email` package:
    measured here at ~13× the file size (a 40 MB file: ~500 MB). Daphne still queues the body once."""
    stack, client = web
    with PeakRSS(stack.procs["web"].pid) as rss:
        response = client.upload(big_file)
    assert response.status_code == 201
    assert rss.growth_mb < 3 * BODY_MB, f"daphne grew by {rss.growth_mb:.0f} MB for a {BODY_MB} MB upload"


def test_a_big_video_is_streamed_out_not_read_into_memory(web, big_file):
    """Under ASGI, Django lists a sync iterator before sending it; media must be an async stream."""
    stack, client = web
    answer = client.upload_in_parts(big_file)
    task = ProcessingTask.objects.get(pk=answer["task_id"])
    final = task.workdir() / "final.mp4"
    final.write_bytes(big_file.read_bytes())
    url = f"/tasks/{task.pk}/media/final.mp4"
    with PeakRSS(stack.procs["web"].pid) as rss:
        got = 0
        with client.http.stream("GET", url, headers={"Range": "bytes=0-"}) as response:
            assert response.status_code == 206
            for block in response.iter_bytes():
                got += len(block)
    assert got == BODY_MB * 2**20
    assert rss.growth_mb < 20, f"daphne grew by {rss.growth_mb:.0f} MB serving a {BODY_MB} MB file"
