"""GET /healthz every 10 ms from a process of its own, so the prober's latencies are not the caller's GIL.

    python -m tests.healthz_probe http://127.0.0.1:8000      # probe
    python -m tests.healthz_probe --idle-server 8001         # the yardstick: a server that does nothing else

The probe prints one line per request, "<monotonic start> <milliseconds>", until stdin closes.
CLOCK_MONOTONIC is the same clock in every process of the machine, so the caller can pick the samples of a
window it timed itself. A request that fails or times out counts as its full time (a stall is a stall, not a
missing sample). `IdleServer` answers /healthz from a process with nothing else to do, in a session of its
own like LiveStack's daphne: probed at the same time, it measures what the machine's own load adds to any
request, which a test on a shared machine must not blame on the app. Used by tests/test_no_stall.py and
bench/ops.py.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def _probe(base_url: str, stop: threading.Event) -> None:
    parts = urlsplit(base_url)
    conn: http.client.HTTPConnection | None = None
    while not stop.is_set():
        started = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise http.client.HTTPException(f"status {response.status}")
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        took = time.monotonic() - started
        sys.stdout.write(f"{started:.6f} {took * 1000:.3f}\n")
        sys.stdout.flush()
        time.sleep(0.01)


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    if sys.argv[1] == "--idle-server":
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), _Ok).serve_forever()
        return
    stop = threading.Event()
    worker = threading.Thread(target=_probe, args=(sys.argv[1], stop), daemon=True)
    worker.start()
    sys.stdin.read()  # until the caller closes our stdin
    stop.set()
    worker.join(timeout=15)


class HealthProbe:
    """The probe in a child process; `window()` and `p99()` over the samples of a span of time."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.samples: list[tuple[float, float]] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> HealthProbe:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.healthz_probe", self.base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while not self.samples and time.monotonic() < deadline:  # up and probing
            time.sleep(0.05)
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            started, ms = line.split()
            self.samples.append((float(started), float(ms)))

    def stop(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.proc = None

    def window(self, start: float, end: float) -> list[float]:
        """Latencies (ms) of the requests that were in flight at any time between `start` and `end`."""
        return [ms for began, ms in list(self.samples) if began <= end and began + ms / 1000 >= start]

    def __enter__(self) -> HealthProbe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class IdleServer:
    def __init__(self) -> None:
        from .live import free_port

        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> IdleServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.healthz_probe", "--idle-server", str(self.port)],
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                conn.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the idle server did not come up")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


if __name__ == "__main__":
    main()
