"""Uploads through a real daphne must not balloon the web process's memory."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from django.db import connection

from jobs.models import ProcessingTask

from .live import Client, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BODY_MB = 40
SERVED_MB = 256
SLOW_READERS = 4


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


def slow_get(base_url: str, path: str, cookie: str, *, seconds: float) -> tuple[bytes, int]:
    """GET `path` like a phone on a bad line: a small receive buffer, 64 KB taken then a pause, for `seconds`.
    Returns the status line and how many bytes arrived. The server can only keep up with it by waiting."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connect, so the window stays small
        sock.connect((host, int(port)))
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\nRange: bytes=0-\r\n\r\n".encode()
        )
        first = b""
        got = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            block = sock.recv(64 * 1024)
            if not block:
                break
            first = first or block
            got += len(block)
            time.sleep(0.05)
        return first.split(b"\r\n", 1)[0], got


def test_slow_readers_of_a_big_video_do_not_fill_daphnes_memory(web, make_task, tmp_path):
    """Daphne writes each ASGI body message into Twisted at once; without back-pressure (repurposer/daphne_hooks.py)
    the file is read at disk speed into daphne's memory for a client that takes it at 1 MB/s: four readers of a
    256 MB file took daphne up by about 1 GB. With it each response holds about two blocks, whatever the machine's
    load, so the bound is the same on a busy machine as on a quiet one."""
    stack, client = web
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"x")
    task = make_task(tiny)
    final = task.workdir() / "final.mp4"
    marker = os.urandom(256 * 1024)
    with open(final, "wb") as fh:  # sparse: reads at memory speed, which is the worst case here
        fh.truncate(SERVED_MB * 2**20)
        fh.seek(100 * 2**20)
        fh.write(marker)
    url = f"/tasks/{task.pk}/media/final.mp4"

    with PeakRSS(stack.procs["web"].pid) as rss, ThreadPoolExecutor(SLOW_READERS) as pool:
        answers = list(
            pool.map(lambda _: slow_get(stack.base_url, url, client.cookie_header, seconds=6), range(SLOW_READERS))
        )
    assert all(status == b"HTTP/1.1 206 Partial Content" and got > 0 for status, got in answers), answers
    assert rss.growth_mb < 32, (
        f"daphne grew by {rss.growth_mb:.0f} MB for {SLOW_READERS} slow readers of a {SERVED_MB} MB file"
    )

    # A fast reader still gets every byte, and a range is still the right bytes.
    ranged = client.http.get(url, headers={"Range": f"bytes={100 * 2**20}-{100 * 2**20 + len(marker) - 1}"})
    assert ranged.status_code == 206 and ranged.content == marker
    got = 0
    with client.http.stream("GET", url) as response:
        assert response.status_code == 200
        for block in response.iter_bytes():
            got += len(block)
    assert got == SERVED_MB * 2**20
