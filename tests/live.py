"""A real Repurposer stack in child processes (daphne + qcluster) and a client that talks to it.

Used by the end-to-end and browser tests and by `make bench`. The children share the database and the
media folder of the caller, given through DATABASE_URL and MEDIA_ROOT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
# What the upload page sends for its boxes when none is ticked: each box has a hidden "0", since an option left
# out takes the page's default (on, for these).
UNTICKED = {"transcribe": "0", "commentary": "0", "ideas": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database the caller is connected to (the test database in tests)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or ""
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"unsupported engine {engine}")


def pss_bytes(pid: int) -> int | None:
    """The process's proportional set size (each resident page divided by the number of processes that map
    it), from /proc/<pid>/smaps_rollup; None when the process is gone or the file cannot be read. Forked
    workers share their parent's pages, so their RSS added up counts those once per worker; PSS does not."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class LiveStack:
    database_url: str
    media_root: Path
    workers: int = 2
    extra_env: dict = field(default_factory=dict)
    port: int = 0
    procs: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            MEDIA_ROOT=str(self.media_root),
            Q_WORKERS=str(self.workers),
            PYTHONUNBUFFERED="1",
        )
        # Each stack's processes share their own metrics files and cluster heartbeats (not the machine's).
        metrics_dir = self.media_root.parent / f"metrics-{self.port}"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # not the test process's own (settings set it)
        env["QSTAT_CACHE_DIR"] = str(self.media_root.parent / f"qstat-{self.port}")
        # Tests do not measure the first words' latency; keep start-up CPU for what they do measure.
        env.setdefault("ASR_PRELOAD", "0")
        env.update(self.extra_env)
        return env

    def start(self, *, web: bool = True, queue: bool = True) -> LiveStack:
        self.port = self.port or free_port()
        commands = {}
        if web:
            commands["web"] = [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "repurposer.asgi:application",
            ]
        if queue:
            commands["queue"] = [sys.executable, str(ROOT / "manage.py"), "qcluster"]
        for name, argv in commands.items():
            log = open(self.media_root.parent / f"{name}-{self.port}.log", "w+b")  # noqa: SIM115
            self.logs[name] = log
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if web:
            self.wait_http()
        if queue:
            self.wait_queue()
        return self

    def wait_http(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("daphne did not come up:\n" + self.log_text("web"))

    def wait_queue(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if b"running." in self._log_bytes("queue"):
                return
            time.sleep(0.1)
        raise RuntimeError("qcluster did not come up:\n" + self.log_text("queue"))

    def _log_bytes(self, name: str) -> bytes:
        log = self.logs[name]
        log.flush()
        return Path(log.name).read_bytes()

    def log_text(self, name: str) -> str:
        return self._log_bytes(name).decode("utf-8", "replace")[-5000:]

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_text(name)}")

    def worker_pids(self) -> list[int]:
        proc = self.procs.get("queue")
        if proc is None:
            return []
        try:
            return [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cluster_pids(self) -> set[int]:
        """The qcluster's own processes (its parent, workers, monitor, pusher), without the media runs they
        start: those get a session of their own, and one that is starting (a worker's ffmpeg warm-up at
        start, between fork and exec) is gone from the second of two looks 0.2 s apart."""

        session = os.getsid(self.procs["queue"].pid)

        def look() -> set[int]:
            found = set()
            for pid in self.worker_pids():
                try:
                    if os.getsid(pid) == session:
                        found.add(pid)
                except OSError:
                    pass  # ended meanwhile
            return found

        first = look()
        time.sleep(0.2)
        return first & look()

    def descendants(self) -> list[psutil.Process]:
        """Every process below daphne and qcluster, including ffmpeg runs (those get their own session, so
        killing the qcluster process group does not reach them)."""
        found = []
        for proc in self.procs.values():
            try:
                found += psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        return found

    def media_processes(self) -> list[psutil.Process]:
        """Live processes whose command line names this stack's media folder (ffmpeg/ffprobe runs)."""
        root = str(self.media_root)
        found = []
        for p in psutil.process_iter(["cmdline", "status"]):
            try:
                if p.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                if any(root in arg for arg in p.info["cmdline"] or ()):
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    def stop(self, timeout: float = 10) -> None:
        """Ask both servers to stop, KILL their process groups after `timeout`, then anything they started.

        qcluster gets SIGTERM on its main process only: its own shutdown stops its children in order. TERM to
        the whole group kills the children at once and leaves the main process waiting for them forever
        (django-q2 1.11), which would cost the whole timeout on every stop.
        """
        leftovers = self.descendants()
        for name, proc in self.procs.items():
            if proc.poll() is None:
                try:
                    if name == "queue":
                        os.kill(proc.pid, signal.SIGTERM)
                    else:
                        os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        # Children that left the process group (ffmpeg runs in its own session) or were started after the
        # snapshot and still name our media folder.
        leftovers += [p for p in self.media_processes() if p not in leftovers]
        for p in leftovers:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(leftovers, timeout=5)
        for log in self.logs.values():
            log.close()

    def __enter__(self) -> LiveStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_stack(
    settings_dict: dict, media_root: Path, *, web: bool = True, queue: bool = True, **kwargs: Any
) -> Iterator[LiveStack]:
    """A started LiveStack on the database `settings_dict` names (the test database in tests); stopped on exit,
    and its logs printed then (pytest shows them for a failed test)."""
    stack = LiveStack(database_url=database_url_for(settings_dict), media_root=media_root, **kwargs)
    try:
        stack.start(web=web, queue=queue)
        yield stack
    finally:
        logs = {name: stack.log_text(name) for name, log in stack.logs.items() if not log.closed}
        stack.stop()
        for name, text in logs.items():
            print(f"----- {name} log (last 5000 characters) -----\n{text}")


class Client:
    """A signed-in browser-like client: cookies, CSRF, uploads, the WebSocket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=120)

    def login(self, username: str, password: str) -> Client:
        self.http.get("/accounts/login/")
        r = self.http.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.csrf},
            headers={"Referer": self.base_url + "/accounts/login/"},
        )
        if r.status_code != 302:
            raise RuntimeError(f"login failed: {r.status_code}")
        return self

    @property
    def csrf(self) -> str:
        return self.http.cookies.get("csrftoken") or ""

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    def upload(self, path: Path, *, interval: int = 30, name: str | None = None) -> httpx.Response:
        if not self.csrf:
            self.http.get("/")
        with open(path, "rb") as fh:
            return self.http.post(
                "/",
                data={"interval": str(interval), "csrfmiddlewaretoken": self.csrf, **UNTICKED},
                files={"file": (name or path.name, fh, "application/octet-stream")},
                headers={"Accept": "application/json", "Referer": self.base_url + "/"},
            )

    def upload_in_parts(
        self,
        path: Path,
        *,
        interval: int = 30,
        name: str | None = None,
        part_bytes: int | None = None,
        transcribe: bool = False,
        fields: dict | None = None,
    ) -> dict:
        """What upload.js does: open an upload, PUT the file in raw parts, return the last answer.

        `fields` are more form fields for the open request (job options such as commentary=on); a value
        that is a (filename, bytes[, content type]) tuple travels as a file, like the subtitles field.
        """
        if not self.csrf:
            self.http.get("/")
        headers = {"X-CSRFToken": self.csrf, "Accept": "application/json", "Referer": self.base_url + "/"}
        size = path.stat().st_size
        extra = fields or {}
        opened = self.http.post(
            "/uploads/",
            headers=headers,
            data={
                "filename": name or path.name,
                "size": str(size),
                "interval": str(interval),
                **UNTICKED,
                **({"transcribe": "on"} if transcribe else {}),
                **{k: v for k, v in extra.items() if not isinstance(v, tuple)},
            },
            files={k: v for k, v in extra.items() if isinstance(v, tuple)} or None,
        )
        opened.raise_for_status()
        info = opened.json()
        step = part_bytes or info["part_bytes"]
        answer = info
        with open(path, "rb") as fh:
            offset = 0
            while offset < size:
                block = fh.read(step)
                r = self.http.put(
                    info["upload_url"],
                    content=block,
                    headers={
                        **headers,
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"bytes {offset}-{offset + len(block) - 1}/{size}",
                    },
                )
                r.raise_for_status()
                answer = {**info, **r.json()}
                offset = answer["offset"]
        return answer

    def cancel(self, task_id: str) -> httpx.Response:
        return self.http.post(
            f"/tasks/{task_id}/cancel/",
            headers={"X-CSRFToken": self.csrf, "Accept": "application/json", "Referer": self.base_url + "/"},
        )

    def ws_url(self, task_id: str, after: int = 0) -> str:
        return self.base_url.replace("http://", "ws://") + f"/ws/tasks/{task_id}/?after={after}"

    def ws_headers(self, *, origin: str | None = None, cookies: bool = True) -> dict:
        headers = {"Origin": origin or self.base_url}
        if cookies and self.cookie_header:
            headers["Cookie"] = self.cookie_header
        return headers

    def ws_connect(
        self, task_id: str, *, after: int = 0, origin: str | None = None, cookies: bool = True
    ) -> websockets.connect:
        """An unopened websockets connection (use `async with`) to the task's event stream."""
        return websockets.connect(
            self.ws_url(task_id, after),
            additional_headers=self.ws_headers(origin=origin, cookies=cookies),
            open_timeout=10,
        )

    async def events(
        self,
        task_id: str,
        *,
        after: int = 0,
        until: tuple[str, ...] = ("complete", "error", "cancelled"),
        timeout: float = 120,
        on_event: Callable[[dict, list[dict]], Awaitable[None]] | None = None,
        linger: float = 0,
    ) -> list[dict]:
        """Collect events until one of `until` arrives; each gets a `received` wall time.

        With `linger`, keep listening that many seconds after the last one and return whatever else arrives
        too (a correct server sends nothing more: every event exactly once).
        """
        got = []
        async with self.ws_connect(task_id, after=after) as ws:
            async with asyncio.timeout(timeout):
                while True:
                    event = json.loads(await ws.recv())
                    event["received"] = time.time()
                    got.append(event)
                    if on_event is not None:
                        await on_event(event, got)
                    if event["type"] in until:
                        break
            if linger:
                try:
                    async with asyncio.timeout(linger):
                        while True:
                            event = json.loads(await ws.recv())
                            event["received"] = time.time()
                            got.append(event)
                except TimeoutError:
                    pass
        return got

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
