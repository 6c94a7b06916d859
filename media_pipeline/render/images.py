"""The image pool of a job run: image work off the request path, bounded, and cached by its inputs.

Threads, not processes: measured with `python -m bench.kit`, Pillow releases the GIL in decoding, resizing,
compositing and JPEG encoding, which is most of a thumbnail's time, and threads share the decoded fonts;
processes would pay a start-up and pickling for each image. The pool is bounded (`workers`), so one task
never takes more than its share of the cores.

The cache is the output folder: an image's file name carries the hash of everything it depends on, so a
request for the same inputs finds the file and costs a stat, and a changed input is a new name. Images that
must keep a fixed name (a carousel's slide-01.png, a reel's poster) are cached under their hash and `publish`ed
at that name as a hard link.

`shared(workers)` is the pool of the worker process: the chunks' thumbnails, the kit's thumbnails and covers,
the carousels' slides and the reels' posters all queue in it, so however many of them a job asks for at once,
the process never runs more than `workers` renders together. Work submitted `urgent` (a chunk's thumbnail: the
watch page waits for it with the chunk) is taken before the rest, in submission order within each.

Work submitted with an `owner` (a task's id) can be settled: `settle(owner)` drops what has not started and
waits for what is running, so a job that ends (done, failed, timed out or cancelled) leaves nothing of its
own running in the pool. A render that runs ffmpeg is given the job's cancel token, so on a cancel it kills
and reaps its child, and settle waits for that.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
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


URGENT, NORMAL = 0, 1  # queue priorities: lower goes first


class ImagePool:
    """`submit(spec, render, path_for)`: the image at `path_for(key)`, rendered by `render(spec)` → bytes in
    one of `workers` threads unless that file exists. The same key asked twice at once for the same file by the
    same owner is rendered once."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._queue: list[tuple[int, int, Future[Rendered], Callable[[], Rendered]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._inflight: dict[tuple[str, str, str | None], Future[Rendered]] = {}  # (key, path, owner) → future
        self._owned: dict[str, set[Future[Rendered]]] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        spec: Renderable,
        render: Callable[[Renderable], bytes],
        path_for: Callable[[str], Path],
        *,
        urgent: bool = False,
        owner: str | None = None,
    ) -> Future[Rendered]:
        key = spec.key()
        path = path_for(key)
        if path.is_file():
            done: Future[Rendered] = Future()
            done.set_result(Rendered(path=path, key=key, cached=True, seconds=0.0))
            return done
        # Shared only by the same owner asking for the same file: another owner's render carries that owner's
        # cancel token and is cancelled by its settle(), so it is no future for this one's waiter.
        inflight = (key, str(path), owner)
        with self._lock:
            running = self._inflight.get(inflight)
            if running is not None:
                return running
            future: Future[Rendered] = Future()
            self._inflight[inflight] = future
            if owner is not None:
                self._owned.setdefault(owner, set()).add(future)
        future.add_done_callback(lambda f: self._forget(inflight, owner, f))
        try:
            self._put(URGENT if urgent else NORMAL, future, lambda: self._render(spec, render, path, key))
        except BaseException as exc:  # a closed pool: the future ends (and leaves _inflight) rather than hang
            future.set_exception(exc)
            raise
        return future

    def _put(self, priority: int, future: Future[Rendered], call: Callable[[], Rendered]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the image pool is closed")
            heapq.heappush(self._queue, (priority, next(self._seq), future, call))
            if len(self._threads) < self.workers:  # started as needed, up to `workers`
                thread = threading.Thread(target=self._work, name=f"image-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                _, _, future, call = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)

    def _forget(self, inflight: tuple[str, str, str | None], owner: str | None, future: Future[Rendered]) -> None:
        with self._lock:
            if self._inflight.get(inflight) is future:
                del self._inflight[inflight]
            if owner is not None:
                owned = self._owned.get(owner)
                if owned is not None:
                    owned.discard(future)
                    if not owned:
                        del self._owned[owner]

    def settle(self, owner: str, timeout: float = 30.0) -> bool:
        """Drop `owner`'s work that has not started and wait (up to `timeout`) for the rest to end; True when
        nothing of `owner` is left in the pool. Called by a job before it ends."""
        with self._lock:
            futures = list(self._owned.get(owner, ()))
        # Only work still queued is cancelled; a render under way runs to its end and is waited for. A cancelled
        # future is not "done" for wait() until a pool thread pops it, which may be long behind other work.
        started = [future for future in futures if not future.cancel()]
        _, running = wait_futures(started, timeout=timeout)
        return not running

    def busy(self, owner: str) -> int:
        """How many of `owner`'s images are queued or rendering (for tests and logs)."""
        with self._lock:
            return len(self._owned.get(owner, ()))

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
        """Drop the queued work and wait for the threads (each ends after its render under way)."""
        with self._cond:
            self._closed = True
            queued, self._queue = self._queue, []
            self._cond.notify_all()
            threads = list(self._threads)
        for _, _, future, _ in queued:
            future.cancel()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()

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


def settle(owner: str, timeout: float = 30.0) -> bool:
    """`ImagePool.settle` on the worker process's pool, if it has one (a job that made no image has nothing
    to wait for)."""
    with _shared_lock:
        pool = _shared[2] if _shared is not None and _shared[0] == os.getpid() else None
    return True if pool is None else pool.settle(owner, timeout)


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
