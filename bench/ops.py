"""Operations figures: /healthz p99 while a big upload's last part lands and while a 5 MB subtitle file is
checked, daphne's RSS with 4 slow readers (embedded vs behind nginx), and what the metrics cost.

    .venv/bin/python -m bench.ops [--mb 512] [--reader-seconds 10]

Baselines, measured in the same run:
  * last part: the old code hashed the whole file when the last part landed; its cost is timed here as a
    whole-file sha256 of the same file in this process (ours hashes as parts arrive).
  * subtitle check: a second daphne with REPURPOSER_OFFLOAD_INLINE=1 parses in the request, as before.
  * slow readers: the same four readers straight to daphne (its own back-pressure hook) and through nginx
    with MEDIA_ACCEL_REDIRECT (daphne sends a header only).
Writes bench-results/ops.json too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.backbone import RESULTS, start_run


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000 if ordered else float("nan")


class HealthProbe(threading.Thread):
    """GET /healthz every 10 ms until stopped; keeps each latency."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.url = base_url + "/healthz"
        self.samples: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=60) as http:
            while not self.halt.is_set():
                t = time.perf_counter()
                http.get(self.url)
                self.samples.append(time.perf_counter() - t)
                time.sleep(0.01)

    def stop(self) -> float:
        self.halt.set()
        self.join()
        return _p99(self.samples)


def _user() -> None:
    from django.contrib.auth.models import User

    if not User.objects.filter(username="bench").exists():
        User.objects.create_user("bench", "b@example.com", "bench-pass-1234", is_staff=True)


def last_part(live, run_dir: Path, mb: int) -> dict:
    from tests.live import Client

    source = run_dir / "big.bin"
    with open(source, "wb") as fh:
        block = os.urandom(1024 * 1024)
        for _ in range(mb):
            fh.write(block)
    client = Client(live.base_url).login("bench", "bench-pass-1234")
    client.http.get("/")
    headers = {"X-CSRFToken": client.csrf, "Accept": "application/json", "Referer": live.base_url + "/"}
    size = source.stat().st_size
    info = client.http.post(
        "/uploads/", headers=headers, data={"filename": "big.mp4", "size": str(size), "interval": "30"}
    ).json()
    step = info["part_bytes"]
    last_ms = p99 = 0.0
    with open(source, "rb") as fh:
        offset = 0
        while offset < size:
            data = fh.read(step)
            last = offset + len(data) >= size
            probe = HealthProbe(live.base_url)
            if last:
                probe.start()
            t = time.perf_counter()
            r = client.http.put(
                info["upload_url"],
                content=data,
                headers={**headers, "Content-Range": f"bytes {offset}-{offset + len(data) - 1}/{size}"},
            )
            if last:
                last_ms = (time.perf_counter() - t) * 1000
                p99 = probe.stop()
            offset = r.json()["offset"]
    t = time.perf_counter()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            digest.update(chunk)
    whole_hash_ms = (time.perf_counter() - t) * 1000
    client.close()
    return {"file_mb": mb, "last_part_ms": last_ms, "whole_file_hash_ms": whole_hash_ms, "healthz_p99_ms": p99}


def subtitle_check(base_url: str) -> dict:
    from tests.live import Client

    lines, i, total = [], 0, 0
    while total < 5 * 1024 * 1024 - 200:  # just under MAX_SUBTITLE_BYTES (5 MiB)
        s = i * 2
        stamp = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
        lines.append(f"{i + 1}\n{stamp},000 --> {stamp},900\nWords of line {i}.\n\n")
        total += len(lines[-1])
        i += 1
    srt = "".join(lines).encode()
    client = Client(base_url).login("bench", "bench-pass-1234")
    client.http.get("/")
    headers = {"X-CSRFToken": client.csrf, "Accept": "application/json", "Referer": base_url + "/"}
    probe = HealthProbe(base_url)
    probe.start()
    time.sleep(0.2)
    t = time.perf_counter()
    r = client.http.post(
        "/uploads/",
        headers=headers,
        data={"filename": "a.mp4", "size": "1000", "interval": "30", "transcribe": "on"},
        files={"subtitles": ("talk.srt", srt, "application/x-subrip")},
    )
    request_ms = (time.perf_counter() - t) * 1000
    time.sleep(0.2)
    p99 = probe.stop()
    client.close()
    return {
        "status": r.status_code,
        "request_ms": request_ms,
        "healthz_p99_ms": p99,
        "healthz_max_ms": max(probe.samples) * 1000,
    }


def slow_readers(base_url: str, web_pid: int, url: str, seconds: float, rate: float = 2 * 1024**2) -> float:
    """Four clients reading `url` at `rate` bytes/s each for `seconds`; daphne's peak RSS growth in MB."""
    from tests.live import Client

    daphne = psutil.Process(web_pid)
    before = daphne.memory_info().rss
    peak = [before]
    halt = threading.Event()

    def reader() -> None:
        client = Client(base_url).login("bench", "bench-pass-1234")
        got, started = 0, time.monotonic()
        with client.http.stream("GET", url) as r:
            for block in r.iter_bytes(64 * 1024):
                got += len(block)
                ahead = got / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
                if time.monotonic() - started > seconds:
                    break
        client.close()

    def sampler() -> None:
        while not halt.is_set():
            peak[0] = max(peak[0], daphne.memory_info().rss)
            time.sleep(0.1)

    threading.Thread(target=sampler, daemon=True).start()
    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    halt.set()
    return (peak[0] - before) / 2**20


def metrics_cost(base_url: str) -> dict:
    from ops import metrics

    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        metrics.observe_stage("bench", 0.5)
        metrics.count_event("bench")
    per_call_us = (time.perf_counter() - t) / (2 * n) * 1e6
    from tests.live import Client

    client = Client(base_url).login("bench", "bench-pass-1234")
    scrapes = []
    for _ in range(20):
        t = time.perf_counter()
        client.http.get("/metrics")
        scrapes.append(time.perf_counter() - t)
    client.close()
    return {"record_us": per_call_us, "scrape_ms_p50": statistics.median(scrapes) * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops")
    parser.add_argument("--mb", type=int, default=512, help="size of the uploaded file (512 MB)")
    parser.add_argument("--reader-seconds", type=float, default=10)
    args = parser.parse_args(argv)
    run_dir, mode = start_run()
    from django.contrib.auth.models import User
    from django.db import connection

    from jobs.models import ProcessingTask
    from tests import nginx
    from tests.live import LiveStack, database_url_for

    _user()
    media = Path(os.environ["MEDIA_ROOT"])
    media.mkdir(parents=True, exist_ok=True)
    url = database_url_for(connection.settings_dict)
    out: dict = {"mode": mode}
    with LiveStack(database_url=url, media_root=media, extra_env={"MEDIA_ACCEL_REDIRECT": "/_media/"}) as live:
        out["last_part"] = last_part(live, run_dir, args.mb)
        out["subtitles"] = subtitle_check(live.base_url)
        task = ProcessingTask.objects.create(
            owner=User.objects.get(username="bench"), title="big.mp4", status="succeeded"
        )
        final = task.files.path(task.files.FINAL)
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(final, "wb") as fh:
            fh.truncate(1024**3)
        media_url = f"/tasks/{task.pk}/media/final.mp4"
        proxy = nginx.Nginx(run_dir / "nginx", upstream=f"127.0.0.1:{live.port}", media_root=media).start()
        try:
            out["rss_nginx_mb"] = slow_readers(proxy.base_url, live.procs["web"].pid, media_url, args.reader_seconds)
        finally:
            proxy.stop()
        out["metrics"] = metrics_cost(live.base_url)
        print(json.dumps(out), flush=True)
    embedded = LiveStack(database_url=url, media_root=media).start(queue=False)
    try:
        out["rss_embedded_mb"] = slow_readers(
            embedded.base_url, embedded.procs["web"].pid, media_url, args.reader_seconds
        )
    finally:
        embedded.stop()
    print(json.dumps(out), flush=True)
    inline = LiveStack(database_url=url, media_root=media, extra_env={"REPURPOSER_OFFLOAD_INLINE": "1"})
    inline.start(queue=False)
    try:
        out["subtitles_inline"] = subtitle_check(inline.base_url)
    finally:
        inline.stop()
    lp, st, si, mc = out["last_part"], out["subtitles"], out["subtitles_inline"], out["metrics"]
    rows = [
        (
            f"last part of a {lp['file_mb']} MB upload (ms)",
            lp["last_part_ms"],
            lp["whole_file_hash_ms"] + lp["last_part_ms"],
        ),
        ("/healthz p99 during that last part (ms)", lp["healthz_p99_ms"], float("nan")),
        ("/healthz p99 during a 5 MB subtitle check (ms)", st["healthz_p99_ms"], si["healthz_p99_ms"]),
        ("/healthz max during a 5 MB subtitle check (ms)", st["healthz_max_ms"], si["healthz_max_ms"]),
        ("the 5 MB subtitle request itself (ms)", st["request_ms"], si["request_ms"]),
        (
            f"daphne RSS growth, 4 readers x {args.reader_seconds:g} s at 2 MB/s (MB)",
            out["rss_nginx_mb"],
            out["rss_embedded_mb"],
        ),
        ("metrics: one observe/inc (µs)", mc["record_us"], float("nan")),
        ("metrics: one /metrics scrape p50 (ms)", mc["scrape_ms_p50"], float("nan")),
    ]
    print(f"\n{mode}\n{'metric':62} {'ours':>10} {'baseline':>10}")
    for name, ours, base in rows:
        print(f"{name:62} {ours:10.1f} {base:10.1f}")
    print("baselines: last part = ours + a whole-file sha256 (the old code); subtitles = parsed in the request;")
    print("RSS = the same readers straight to daphne (ours: through nginx with X-Accel-Redirect)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ops.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
