"""The image pool of a job run: image work off the request path, bounded, and cached by its inputs.

Threads, not processes: measured with `python -m bench.kit`, Pillow releases the GIL in decoding, resizing,
compositing and JPEG encoding, which is most of a thumbnail's time, and threads share the decoded fonts;
processes would pay a start-up and pickling for each image. The pool is bounded (`workers`), so one task
never takes more than its share of the cores.

The cache is the output folder: an image's file name carries the hash of everything it depends on, so a
request for the same inputs finds the file and costs a stat, and a changed input is a new name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..files import atomic_output


class Renderable(Protocol):
    def key(self) -> str: ...


@dataclass(frozen=True)
class Rendered:
    path: Path
    key: str
    cached: bool
    seconds: float  # wall time of the render (0 for a cache hit)
    cpu_seconds: float = 0.0  # CPU time of the rendering thread: what the render costs on a busy machine


class ImagePool:
    """`submit(spec, render, path_for)`: the image at `path_for(key)`, rendered by `render(spec)` → bytes in
    one of `workers` threads unless that file exists. The same key asked twice at once is rendered once."""

    def __init__(self, workers: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="image")
        self._inflight: dict[str, Future[Rendered]] = {}
        self._lock = threading.Lock()

    def submit(
        self, spec: Renderable, render: Callable[[Renderable], bytes], path_for: Callable[[str], Path]
    ) -> Future[Rendered]:
        key = spec.key()
        path = path_for(key)
        if path.is_file():
            done: Future[Rendered] = Future()
            done.set_result(Rendered(path=path, key=key, cached=True, seconds=0.0))
            return done
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                return running
            future = self.executor.submit(self._render, spec, render, path, key)
            self._inflight[key] = future
        future.add_done_callback(lambda _: self._forget(key))
        return future

    def _forget(self, key: str) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    @staticmethod
    def _render(spec: Renderable, render: Callable[[Renderable], bytes], path: Path, key: str) -> Rendered:
        started, cpu = time.perf_counter(), time.thread_time()
        data = render(spec)
        with atomic_output(path) as tmp:
            tmp.write_bytes(data)
        return Rendered(
            path=path,
            key=key,
            cached=False,
            seconds=time.perf_counter() - started,
            cpu_seconds=time.thread_time() - cpu,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ImagePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
