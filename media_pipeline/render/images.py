"""The image pool of a job run: image work off the request path, bounded, and cached by its inputs.

Threads, not processes: measured with `python -m bench.kit`, Pillow releases the GIL in decoding, resizing,
compositing and JPEG encoding, which is most of a thumbnail's time, and threads share the decoded fonts;
processes would pay a start-up and pickling for each image. The pool is bounded (`workers`), so one task
never takes more than its share of the cores.

The cache is the output folder: an image's file name carries the hash of everything it depends on, so a
request for the same inputs finds the file and costs a stat, and a changed input is a new name. Images that
must keep a fixed name (a carousel's slide-01.png, a reel's poster) are cached under their hash and `publish`ed
at that name as a hard link.

`shared(workers)` is the pool of the worker process: the kit's thumbnails and covers, the carousels' slides
and the reels' posters all queue in it, so however many of them a job asks for at once, the process never
runs more than `workers` renders together.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..files import atomic_output
from ..process import CancelToken


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


_shared: tuple[int, int, ImagePool] | None = None  # (pid, workers, pool)
_shared_lock = threading.Lock()


def shared(workers: int) -> ImagePool:
    """The worker process's image pool (made on first use; again after a fork, whose child has no threads)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid() or _shared[1] != workers:
            _shared = (os.getpid(), workers, ImagePool(workers))
        return _shared[2]


def wait_all(futures: list[Future[Rendered]], cancel: CancelToken, poll: float = 0.1) -> list[Rendered]:
    """The results in order; on a cancel the renders not started yet are dropped and Cancelled is raised."""
    from ..errors import Cancelled

    try:
        out = []
        for future in futures:
            while True:
                if cancel.is_set():
                    raise Cancelled()
                try:
                    out.append(future.result(timeout=poll))
                    break
                except TimeoutError:
                    continue
        return out
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def publish(image: Path, at: Path) -> Path:
    """The cached `image` also at `at` (a fixed name the pages and the ZIPs use): a hard link, so no bytes
    are copied; a copy where the file system has no links. Replaces what was at `at`."""
    import shutil

    at.parent.mkdir(parents=True, exist_ok=True)
    tmp = at.with_name(f".{at.name}.{os.getpid()}.{threading.get_ident()}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(image, tmp)
    except OSError:
        shutil.copyfile(image, tmp)
    os.replace(tmp, at)
    return at
