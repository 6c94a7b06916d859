"""Start the web server (daphne) and the workers (qcluster) together; Ctrl-C stops both and their children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run daphne and the django-q2 cluster together until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-workers", action="store_true", help="web server only")

    def handle(self, *args: Any, host: str, port: int, no_workers: bool, **options: Any) -> None:
        from ops import lifecycle, metrics

        lifecycle.refuse_start_if_unreachable("Repurposer")
        metrics.wipe(settings.METRICS_DIR)  # counters start from zero with the machine's processes
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        commands = {"web": [python, "-m", "daphne", "-b", host, "-p", str(port), "repurposer.asgi:application"]}
        if not no_workers:
            commands["workers"] = [python, manage, "qcluster"]
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, argv in commands.items():
                # Own process group each, so stopping one stops everything it started (ffmpeg included).
                children[name] = subprocess.Popen(argv, cwd=settings.BASE_DIR, start_new_session=True)
            self.stdout.write(self.style.SUCCESS(f"Repurposer is running at http://{host}:{port}/  (Ctrl-C to stop)"))
            while not stopping:
                for name, proc in children.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping.")
                        stopping = True
                time.sleep(0.3)
        finally:
            self.stdout.write("Stopping…")
            self._stop_all(list(children.values()))
            self.stdout.write("Stopped.")

    def _stop_all(self, children: list[subprocess.Popen], grace: float = 10.0) -> None:
        """TERM the leaders (qcluster stops its own workers in order), then KILL every descendant left.

        ffmpeg runs in a process group of its own (so a cancel can kill it alone), so killing the workers'
        group would miss it: the descendants are collected by parentage instead, before anything exits.
        """
        tree: dict[int, psutil.Process] = {}

        def collect() -> None:
            for proc in children:
                try:
                    leader = psutil.Process(proc.pid)
                    for p in [leader, *leader.children(recursive=True)]:
                        tree.setdefault(p.pid, p)
                except psutil.NoSuchProcess:
                    pass

        collect()
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        collect()  # anything started during the grace period
        for p in tree.values():
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(list(tree.values()), timeout=5)
        for proc in children:
            proc.wait(timeout=5)
