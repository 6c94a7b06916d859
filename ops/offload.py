"""CPU-bound Python that a request would otherwise run under the GIL, moved to a helper process.

A web process runs every request's Python on one interpreter: a few seconds of pure-Python parsing in one
request stall every other request of that daphne, /healthz included. Work of that kind goes through
`call(fn, ...)`: it runs in a small pool of spawned processes (no Django in them, no fork of a threaded
server; nice +10, since they share the server's CPU share), and the request's thread waits without holding
the GIL. `fn` and its arguments must be importable and picklable: plain functions of media_pipeline/ with
plain values.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()
WORKERS = 2
TIMEOUT = 60.0
# The helpers are in the web server's session, so their CPU counts against its share: they go after requests.
NICE = 10
# bench.ops only: run in the request's own process, as before, to measure the stall this avoids.
INLINE = os.environ.get("REPURPOSER_OFFLOAD_INLINE") == "1"


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=WORKERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=os.nice,
                initargs=(NICE,),
            )
        return _pool


def call(fn: Callable[..., T], *args: Any, timeout: float = TIMEOUT, **kwargs: Any) -> T:
    """fn(*args, **kwargs) in a helper process; its exceptions come back as they are."""
    if INLINE:
        return fn(*args, **kwargs)
    return _executor().submit(fn, *args, **kwargs).result(timeout=timeout)
