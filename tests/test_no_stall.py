"""No request stalls the site: /healthz, probed every 10 ms from a process of its own, keeps answering a real
daphne within 100 ms (p99) while a 1 GB upload arrives part by part and completes, and while a 5 MB subtitle
file is checked.

The bound is the issue's 100 ms plus twice what the machine's own load adds to any request: an idle server
(tests/healthz_probe.py) is probed at the same time. A daphne receiving a GB uses its CPU share, and on an
oversubscribed machine a process that uses its share waits for the CPU about twice as long as an idle one:
on the shared 2-core machine at load 13-28, the idle server's p99 was 60-160 ms and daphne's 1.0-2.4 times
that, before and after the changes below. On a quiet machine (idle p99 of a few ms) the bound is the
issue's 100 ms; a stall in the web process (a subtitle file parsed in the request: p99 390-820 ms against
an idle 60-210 ms) still fails it. It holds because the web process does no long CPU-bound Python
for these requests: the upload's content key grows as the parts arrive (hashlib lets go of the GIL),
daphne hands the app its temp file of each part instead of copying it through body messages on the event
loop (repurposer/daphne_hooks.py), sync views run in one hop on a pooled request thread
(repurposer/asgi_handler.py), and the subtitle file is parsed in a helper process at nice +10 (ops.offload).
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from jobs.models import ProcessingTask

from .healthz_probe import HealthProbe, IdleServer, p99
from .live import UNTICKED, Client, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GB = 1024**3
BOUND_MS = 100


@pytest.fixture
def web(media_root, owner):
    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        client = Client(stack.base_url).login("alice", "alice-pass-1234")
        client.http.get("/")
        with IdleServer() as idle, HealthProbe(stack.base_url) as probe, HealthProbe(idle.base_url) as yardstick:
            yield stack, client, Probes(probe, yardstick)
        client.close()


class Probes:
    """/healthz of the daphne under test, and the idle server probed at the same time."""

    def __init__(self, app: HealthProbe, idle: HealthProbe) -> None:
        self.app, self.idle = app, idle

    def check(self, name: str, start: float, end: float, *, least: int = 5) -> None:
        time.sleep(0.1)  # the requests in flight at `end` are reported
        app, idle = self.app.window(start, end), self.idle.window(start, end)
        report = f"{_report(name, app)}; the idle server: {_report(name, idle)}"
        print(report)
        assert len(app) >= least and len(idle) >= least, "the probes did not run: " + report
        assert p99(app) < BOUND_MS + 2 * p99(idle), report


def _headers(client: Client) -> dict:
    return {"X-CSRFToken": client.csrf, "Accept": "application/json", "Referer": client.base_url + "/"}


def _report(name: str, samples: list[float]) -> str:
    worst = sorted(samples)[-5:]
    return f"{name}: {len(samples)} probes, p99 {p99(samples):.1f} ms, worst {worst}"


def test_healthz_stays_fast_while_a_1_gb_upload_arrives_and_completes(web, tmp_path):
    stack, client, probes = web
    source = tmp_path / "big.mp4"
    with open(source, "wb") as fh:  # sparse: the client reads it at memory speed, the server writes every byte
        fh.write(b"\x00\x00\x00\x20ftypisom")
        fh.truncate(GB)
    opened = client.http.post(
        "/uploads/",
        headers=_headers(client),
        data={"filename": "big.mp4", "size": str(GB), "interval": "30", **UNTICKED},
    )
    assert opened.status_code == 201, opened.text
    info = opened.json()
    step = info["part_bytes"]

    began = time.monotonic()
    last_part: tuple[float, float] = (0.0, 0.0)
    answer: dict = {}
    with open(source, "rb") as fh:
        offset = 0
        while offset < GB:
            block = fh.read(step)
            part_began = time.monotonic()
            r = client.http.put(
                info["upload_url"],
                content=block,
                headers={
                    **_headers(client),
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {offset}-{offset + len(block) - 1}/{GB}",
                },
            )
            assert r.status_code == 200, r.text
            answer = r.json()
            offset = answer["offset"]
            last_part = (part_began, time.monotonic())
    ended = time.monotonic()

    assert answer["complete"] is True
    task = ProcessingTask.objects.get(pk=info["task_id"])
    assert task.status == ProcessingTask.Status.QUEUED
    assert task.source_file().stat().st_size == GB
    assert len(task.content_key) == 64
    probes.check("whole upload", began, ended)
    probes.check("last part", *last_part, least=1)  # the last part only finishes the digest


def _srt(size: int) -> bytes:
    """A valid SRT just under `size` bytes: numbered cues, two lines each, accents, tags, odd times."""
    lines, i, total = [], 0, 0
    while True:
        start = i * 2.37
        end = start + 1.91
        cue = (
            f"{i + 1}\n{_stamp(start)} --> {_stamp(end)}\n"
            f"<i>Line {i}</i> of the talk: café, naïve — déjà vu\n"
            f"and a second line that runs a little longer than the first one ({i}).\n\n"
        ).encode()
        if total + len(cue) > size:
            return b"".join(lines)
        lines.append(cue)
        total += len(cue)
        i += 1


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def test_healthz_stays_fast_while_a_5_mb_subtitle_file_is_checked(web, settings):
    stack, client, probes = web
    srt = _srt(settings.MAX_SUBTITLE_BYTES - 100)
    assert len(srt) > 5_000_000
    time.sleep(0.3)  # a few probes before, so a slow first one is not the only sample
    began = time.monotonic()
    r = client.http.post(
        "/uploads/",
        headers=_headers(client),
        data={"filename": "talk.mp4", "size": "1000000", "interval": "30", **UNTICKED, "transcribe": "on"},
        files={"subtitles": ("talk.srt", srt, "application/x-subrip")},
    )
    ended = time.monotonic()
    assert r.status_code == 201, r.text
    task = ProcessingTask.objects.get(pk=r.json()["task_id"])
    assert task.status == ProcessingTask.Status.UPLOADING
    assert task.files.sidecar() is not None  # the checked file was kept with the upload

    probes.check(f"subtitle check ({(ended - began) * 1000:.0f} ms)", began, ended)
