"""Operations against real processes: /metrics scraped from a real daphne + qcluster after a job, start-up
refusal of an unreachable Redis or database, and a qcluster whose leader is killed taking its workers along."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from django.db import connection

from .live import ROOT, Client, free_port, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "scrape-me-0123456789"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(p for p in (m.group(2) or "").split(",") if p))
        if got == want:
            return float(m.group(3))
    return 0.0


def scrape(base_url: str) -> str:
    r = httpx.get(base_url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def test_metrics_from_daphne_and_workers_move_with_a_job(owner, media_root, h264_file):
    with running_stack(connection.settings_dict, media_root, extra_env={"METRICS_TOKEN": TOKEN}) as live:
        assert httpx.get(live.base_url + "/metrics", timeout=10).status_code == 401
        wrong = httpx.get(live.base_url + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        before = scrape(live.base_url)
        assert sample(before, "repurposer_stage_seconds_count", stage="chunk") == 0
        assert sample(before, "repurposer_disk_free_bytes") > 0

        client = Client(live.base_url).login("alice", "alice-pass-1234")
        r = client.upload(h264_file, interval=10)
        assert r.status_code == 201, r.text
        task_id = r.json()["task_id"]

        async def follow() -> tuple[list[dict], float]:
            # Scrape while this socket is open: the web process's live gauge counts it.
            async with client.ws_connect(task_id) as ws:
                deadline = time.monotonic() + 15  # the connect reaches the gauge
                while (
                    open_now := sample(await asyncio.to_thread(scrape, live.base_url), "repurposer_websockets")
                ) < 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await ws.close()
            events = await client.events(task_id, timeout=120)
            return events, open_now

        events, open_sockets = asyncio.run(follow())
        assert events[-1]["type"] == "complete", events[-1]
        assert open_sockets >= 1
        deadline = time.monotonic() + 15  # the last socket's disconnect reaches the gauge
        while sample(after := scrape(live.base_url), "repurposer_websockets") != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        chunks = sum(1 for e in events if e["type"] == "chunk_ready")
        # Written by the qcluster worker processes, read through the daphne's scrape.
        assert sample(after, "repurposer_stage_seconds_count", stage="chunk") == chunks
        assert sample(after, "repurposer_chunk_render_seconds_count") == chunks
        assert sample(after, "repurposer_stage_seconds_count", stage="ffprobe") == 1
        assert sample(after, "repurposer_stage_seconds_count", stage="finalize") == 1
        assert sample(after, "repurposer_queue_wait_seconds_count") == 1
        assert sample(after, "repurposer_events_total", type="chunk_ready") == chunks
        assert sample(after, "repurposer_events_total", type="complete") == 1
        assert sample(after, "repurposer_tasks", status="succeeded", kind="chunks") == 1
        assert sample(after, "repurposer_queue_depth") == 0
        assert sample(after, "repurposer_websockets") == 0
        client.close()


def _run_server(argv: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _server_argv(server: str) -> list[str]:
    if server == "daphne":
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "repurposer.asgi:application",
        ]
    return [sys.executable, str(ROOT / "manage.py"), "qcluster"]


@pytest.mark.parametrize("server", ["daphne", "qcluster"])
def test_start_up_refuses_an_unreachable_redis(media_root, server):
    dead = free_port()  # nothing listens there
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{dead}/0", "MEDIA_ROOT": str(media_root)}
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL", "") or f"sqlite:///{connection.settings_dict['NAME']}"
    done = _run_server(_server_argv(server), env)
    assert done.returncode == 3, done.stderr[-2000:]
    assert f"REDIS_URL=redis://127.0.0.1:{dead}/0 is configured but cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("server", ["daphne", "qcluster"])
def test_start_up_refuses_an_unreachable_database(media_root, server):
    dead = free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://nobody@127.0.0.1:{dead}/nothing", "MEDIA_ROOT": str(media_root)}
    env.pop("REDIS_URL", None)
    done = _run_server(_server_argv(server), env)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "The database (django.db.backends.postgresql) cannot be reached" in done.stderr


def test_killing_the_qcluster_leader_takes_its_workers_with_it(media_root):
    with running_stack(connection.settings_dict, media_root, web=False) as live:
        leader = live.procs["queue"].pid
        tree = psutil.Process(leader).children(recursive=True)
        assert len(tree) >= 3, tree  # sentinel, monitor/pusher, two workers
        os.kill(leader, signal.SIGKILL)
        live.procs["queue"].wait(timeout=10)
        gone, alive = psutil.wait_procs(tree, timeout=15)
        assert alive == [], [(p.pid, p.name()) for p in alive]
