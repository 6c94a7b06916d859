"""The ffmpeg runner with real processes: a child never outlives the worker that started it."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from media_pipeline import process
from media_pipeline.errors import MediaError

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
        # Until then the child may still be one of the launcher's programs on its way to ffmpeg (see run).
        assert wait_for(lambda: [c.name() for c in psutil.Process(worker.pid).children()] == ["ffmpeg"], 60)
        children = psutil.Process(worker.pid).children()
        ffmpeg = children[0]
        assert not gone(ffmpeg)
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


# What a child was given: its death signal (prctl PR_GET_PDEATHSIG), its RLIMIT_DATA, its niceness.
SETUP_SEEN = """
import ctypes, os, resource
sig = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)
print(sig.value, resource.getrlimit(resource.RLIMIT_DATA)[0], resource.getrlimit(resource.RLIMIT_DATA)[1], os.nice(0))
"""


@pytest.mark.parametrize("launcher", [True, False], ids=["vfork-and-launcher", "preexec-fallback"])
def test_a_child_dies_with_its_parent_stays_under_its_memory_cap_and_runs_nicer(launcher, monkeypatch):
    """Both ways of starting a child give it the same: with setpriv/prlimit/nice (vfork, no Python in the
    child) and, where those are missing, with a preexec_fn."""
    if not launcher:
        monkeypatch.setattr(process, "_SETPRIV", None)
    assert (process._launcher(memory_limit=1, nice=1) is not None) is launcher
    cap = 768 * 1024 * 1024
    out = process.run([sys.executable, "-c", SETUP_SEEN], timeout=60, memory_limit=cap, nice=3, what="python")
    death, soft, hard, niceness = (int(v) for v in out.stdout.split())
    assert death == signal.SIGKILL
    assert soft == hard == cap
    assert niceness == min(19, os.nice(0) + 3)
    plain = process.run([sys.executable, "-c", SETUP_SEEN], timeout=60, what="python")
    death, soft, _, niceness = (int(v) for v in plain.stdout.split())
    assert death == signal.SIGKILL, "a child always dies with its parent"
    assert soft == resource.getrlimit(resource.RLIMIT_DATA)[0] and niceness == os.nice(0)


def test_a_missing_program_is_named_not_run(monkeypatch):
    with pytest.raises(MediaError, match="ffmpeg is not installed on the server"):
        process.run(["no-such-ffmpeg-here"], timeout=10)
    monkeypatch.setattr(process, "_SETPRIV", None)
    with pytest.raises(MediaError, match="ffmpeg is not installed on the server"):
        process.run(["no-such-ffmpeg-here"], timeout=10)


# A child that ignores SIGTERM, so after a cancel it stays in its run's kill grace period (made a minute here,
# so a busy machine cannot end it before the test looks), in the registry with its token set; it says it is
# ready by creating a file.
STUBBORN = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
"""


def test_a_job_reaps_only_its_own_cancelled_children(tmp_path, monkeypatch):
    import threading

    from media_pipeline import process

    monkeypatch.setattr(process, "TERM_GRACE", 60.0)
    from media_pipeline.errors import Cancelled
    from media_pipeline.process import AnyOf, Signal, reap_cancelled, run

    job_a = (Signal(), Signal())  # (the user's cancel, the run's stop) of two jobs in one worker
    job_b = (Signal(), Signal())
    ready = tmp_path / "ready"
    ended: list[BaseException] = []

    cancel_b = AnyOf(*job_b)

    def job_b_run() -> None:
        try:
            run([sys.executable, "-c", STUBBORN, str(ready)], timeout=120, cancel=cancel_b, what="stub")
        except BaseException as exc:
            ended.append(exc)

    lane = threading.Thread(target=job_b_run)
    lane.start()
    try:
        # Started and in the registry: on a busy machine the child can be ready before its run's thread,
        # descheduled after Popen returned, has written it down.
        assert wait_for(lambda: ready.exists() and any(t is cancel_b for _, t in process._live.values()), 60)
        job_b[1].set()  # job B stops: its run's thread sends TERM (ignored) and waits its grace before KILL
        # Job A ends meanwhile: B's cancelled child is not A's to wait for nor to kill.
        assert reap_cancelled(timeout=5.0, owner=job_a) == 0
        # Without an owner (the worker's shutdown) it is reaped at once, here.
        assert reap_cancelled(timeout=0.0, grace=30.0) == 1
    finally:
        job_b[1].set()
        lane.join(timeout=60)
    assert not lane.is_alive() and len(ended) == 1 and isinstance(ended[0], Cancelled)
