"""`manage.py serve` (what `make run` starts): web + workers up, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from . import media
from .live import ROOT, database_url_for, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def cmdline(process: psutil.Process) -> str:
    """A process's command line, or "" once it has exited (ffprobe/ffmpeg children come and go fast)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def test_serve_starts_web_and_workers_and_ctrl_c_stops_them_all(media_root, make_task, tmp_path):
    from django.db import connection

    from jobs.models import ProcessingTask
    from jobs.services import enqueue

    # A job that is busy in ffmpeg when Ctrl-C comes: its ffmpeg must not outlive `serve`.
    task = make_task(media.mpeg4_avi(tmp_path / "long.avi", seconds=120, size="960x540"), interval=120)
    enqueue(task)

    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for(connection.settings_dict), MEDIA_ROOT=str(media_root))
    # serve wipes its metrics folder when it starts: not this test process's (tests/own_dirs.py).
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "serve-metrics")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in banner
        deadline = time.monotonic() + 30
        descendants = []
        while time.monotonic() < deadline:
            descendants = psutil.Process(proc.pid).children(recursive=True)
            names = " ".join(cmdline(p) for p in descendants)
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            busy = ProcessingTask.objects.filter(pk=task.pk, stage="chunk").exists()
            if up and busy and "ffmpeg" in names:
                break
            time.sleep(0.2)
        else:
            pytest.fail("serve did not bring up web and workers, or the job never reached ffmpeg")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(descendants, timeout=1)
        assert alive == [], f"left behind: {[cmdline(p) for p in alive]}"
        # Including an ffmpeg started while the workers were shutting down (it is in a group of its own).
        ours = [p for p in psutil.process_iter(["cmdline"]) if str(media_root) in " ".join(p.info["cmdline"] or [])]
        assert ours == [], f"left behind: {[p.info['cmdline'] for p in ours]}"
        assert proc.returncode == 0
    finally:
        # If the test failed half-way, take down everything serve started (its children have sessions of
        # their own, so killing serve alone would leave daphne and qcluster running).
        if proc.poll() is None:
            leftovers = psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
            for child in leftovers:
                try:
                    child.kill()
                except psutil.Error:
                    pass
