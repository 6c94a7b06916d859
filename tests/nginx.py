"""A real nginx (Debian's package) in front of a LiveStack, configured from deploy/nginx.conf."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from .live import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def available() -> bool:
    return Path(NGINX).exists()


class Nginx:
    """deploy/nginx.conf with its three EDIT lines pointed at this test's daphne, media folder and a free port,
    inside a minimal main config under a temp prefix (pid, logs and temp files there, not in /var)."""

    def __init__(self, prefix: Path, *, upstream: str, media_root: Path) -> None:
        self.prefix = prefix
        self.port = free_port()
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        for old, new in (
            ("server 127.0.0.1:8000;", f"server {upstream};"),
            ("alias /srv/repurposer/var/media/;", f"alias {media_root.resolve()}/;"),
            ("listen 80;", f"listen 127.0.0.1:{self.port};"),
        ):
            assert old in site, f"deploy/nginx.conf no longer has {old!r}"
            site = site.replace(old, new)
        prefix.mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would switch to "nobody", who cannot read a test's private temp folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
            f"  access_log {prefix}/access.log;\n"
            + "".join(
                f"  {kind}_temp_path {prefix}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + site
            + "\n}\n"
        )
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.prefix / "stderr.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited:\n" + (self.prefix / "stderr.log").read_text()[-3000:])
            try:
                httpx.get(self.base_url + "/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
