"""CPU-bound Python that a request would otherwise run under the GIL, moved to a helper process.

A web process runs every request's Python on one interpreter: a few seconds of pure-Python parsing in one
request stall every other request of that daphne, /healthz included. Work of that kind goes through
`call(fn, ...)`: it runs in a small pool of spawned processes (no Django in them, no fork of a threaded
server; nice +10, since they share the server's CPU share), and the request's thread waits without holding
the GIL. `fn` and its arguments must be importable and picklable: plain functions of media_pipeline/ with
plain values.

Bulk byte work that lets go of the GIL (writing an upload's part, hashing it) stays in the web process but
goes through `bulk(fn, ...)`: a few threads at a lower CPU priority (nice +10, per thread), so on a machine
short of CPU the threads that answer requests run first and a 1 GB upload does not slow every page.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()
WORKERS = 2
TIMEOUT = 60.0
_bulk_pool: ThreadPoolExecutor | None = None
BULK_WORKERS = 4
BULK_NICE = 10
# bench.ops only: run in the request's own process, as before, to measure the stall this avoids.
INLINE = os.environ.get("REPURPOSER_OFFLOAD_INLINE") == "1"


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=WORKERS,
                mp_context=multiprocessing.get_context("spawn"),
                # Its CPU counts against the web server's share (the same session), so it goes after the requests.
                initializer=os.nice,
                initargs=(BULK_NICE,),
            )
        return _pool


def call(fn: Callable[..., T], *args: Any, timeout: float = TIMEOUT, **kwargs: Any) -> T:
    """fn(*args, **kwargs) in a helper process; its exceptions come back as they are."""
    if INLINE:
        return fn(*args, **kwargs)
    return _executor().submit(fn, *args, **kwargs).result(timeout=timeout)


def _lower_this_threads_priority() -> None:
    """Linux schedules threads: setpriority on this thread's id changes this thread only."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BULK_NICE))
    except OSError:  # pragma: no cover - not Linux, or not allowed: the work still runs
        pass


def _bulk_executor() -> ThreadPoolExecutor:
    global _bulk_pool
    with _lock:
        if _bulk_pool is None:
            _bulk_pool = ThreadPoolExecutor(
                max_workers=BULK_WORKERS, thread_name_prefix="bulk", initializer=_lower_this_threads_priority
            )
        return _bulk_pool


def bulk(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs) in one of the web process's low-priority threads; the caller waits for it."""
    if INLINE:
        return fn(*args, **kwargs)
    return _bulk_executor().submit(fn, *args, **kwargs).result()
