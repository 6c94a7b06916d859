"""The ffmpeg runner with real processes: a child never outlives the worker that started it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

# A stand-in worker: like a chunk render, it runs ffmpeg from a thread of a pool, then waits.
WORKER = """
import threading, time
from media_pipeline.process import run

argv = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "anullsrc", "-t", "120", "-f", "null", "-"]
threading.Thread(target=run, args=(argv,), kwargs={"timeout": 300}, daemon=True).start()
time.sleep(300)
"""


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def gone(proc: psutil.Process) -> bool:
    """Exited; a zombie counts, since whoever reaps orphans here (if anyone) is not ours to wait for."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ffmpeg_dies_with_a_worker_killed_with_sigkill():
    worker = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT)
    children: list[psutil.Process] = []
    try:
        # Generous: on a busy machine the interpreter and ffmpeg may take a while to start.
        assert wait_for(lambda: psutil.Process(worker.pid).children(), 60)
        children = psutil.Process(worker.pid).children()
        ffmpeg = children[0]
        assert ffmpeg.name() == "ffmpeg" and not gone(ffmpeg)
        worker.kill()  # SIGKILL: the worker can clean nothing up
        worker.wait(timeout=10)
        assert wait_for(lambda: gone(ffmpeg), 5), "ffmpeg outlived the worker that started it"
    finally:
        worker.kill()
        worker.wait(timeout=10)
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
