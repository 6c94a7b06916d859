"""Process life for the servers: refuse to start without the configured services, and let a qcluster's
processes die with their leader."""

from __future__ import annotations

import ctypes
import multiprocessing.util
import os
import signal
import sys
from pathlib import Path

from . import health

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


class _AfterFork:
    """Kept alive for the life of the process: multiprocessing's after-fork registry holds it weakly."""

    def __init__(self) -> None:
        self.parent = os.getpid()

    def __call__(self) -> None:
        if _prctl is None:
            return
        _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != self.parent:  # the parent died before prctl took effect
            os._exit(1)
        self.parent = os.getpid()  # what this process's own children will check


_HOOK: _AfterFork | None = None


def die_with_parent() -> None:
    """Every process multiprocessing forks from here on (django-q2's sentinel, its workers, monitor and pusher,
    which inherit the registry) asks the kernel for SIGKILL when its parent dies.

    django-q2's leader (`manage.py qcluster`) forks a sentinel that forks the workers; killed with SIGKILL the
    leader leaves them running as orphans, still taking jobs. With this the sentinel dies with the leader and
    the workers with the sentinel; their running tasks are taken over by requeue_stale like any dead worker's,
    and their ffmpeg children already die with them (media_pipeline.process).
    """
    global _HOOK
    if _HOOK is None:
        _HOOK = _AfterFork()
        multiprocessing.util.register_after_fork(_HOOK, lambda hook: hook())


def is_server_process() -> bool:
    """Whether this process is a daphne server (not a test or a management command importing the ASGI app)."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == "daphne" or (argv0.name == "__main__.py" and argv0.parent.name == "daphne")


def refuse_start_if_unreachable(what: str) -> None:
    health.refuse_start_if_unreachable(what)
