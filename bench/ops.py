"""Operations figures: /healthz p99 during a 1 GB upload (and its last part) and while a 5 MB subtitle file is
checked, daphne's RSS growth with 4 clients reading a 1 GB file at 2 MB/s each (embedded and behind nginx),
and what the metrics cost a request.

    .venv/bin/python -m bench.ops [--mb 1024] [--reader-seconds 30]

/healthz is probed every 10 ms from a process of its own (tests/healthz_probe.py), and an idle server is
probed at the same time: its p99 is what the machine's own load adds to any request, printed beside ours.

Baselines, measured in the same run:
  * upload and subtitle check: a second daphne as before (REPURPOSER_OFFLOAD_INLINE=1: the subtitle file is
    parsed in the request; REPURPOSER_DAPHNE_8K_BODIES=1: daphne's 8 KB body messages). The old code also hashed the whole file when
    the last part landed; that is timed as a whole-file sha256 of the same file and added to its last part.
  * slow readers: the same four readers straight to daphne (its own back-pressure hook) against through nginx
    with MEDIA_ACCEL_REDIRECT (daphne sends a header only). 4 x 2 MB/s would take 128 s for all of 1 GB;
    --reader-seconds says how long they read (the growth is flat after the first seconds).
  * metrics: a daphne with REPURPOSER_METRICS_OFF=1 (nothing recorded), its requests interleaved with ours.
Writes bench-results/ops.json too.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from bench.backbone import RESULTS, start_run
from tests.healthz_probe import HealthProbe, IdleServer, p99
from tests.live import LiveStack


class Probed:
    """/healthz of one daphne and the idle yardstick, each probed from a process of its own."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def __enter__(self) -> Probed:
        self.idle = IdleServer().__enter__()
        self.app = HealthProbe(self.base_url).start()
        self.yardstick = HealthProbe(self.idle.base_url).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.app.stop()
        self.yardstick.stop()
        self.idle.__exit__()

    def p99(self, start: float, end: float) -> tuple[float, float]:
        """(ours, the idle server's) p99 in ms over the requests in flight between start and end."""
        time.sleep(0.1)
        return p99(self.app.window(start, end)), p99(self.yardstick.window(start, end))


def _user() -> None:
    from django.contrib.auth.models import User

    if not User.objects.filter(username="bench").exists():
        User.objects.create_user("bench", "b@example.com", "bench-pass-1234", is_staff=True)


def make_big_file(run_dir: Path, mb: int) -> Path:
    source = run_dir / "big.bin"
    if not source.exists():
        with open(source, "wb") as fh:
            block = os.urandom(1024 * 1024)
            for _ in range(mb):
                fh.write(block)
    return source


def upload(base_url: str, source: Path) -> dict:
    """The file in parts as upload.js sends it; /healthz p99 over the whole upload and over its last part."""
    from tests.live import Client

    client = Client(base_url).login("bench", "bench-pass-1234")
    client.http.get("/")
    headers = {"X-CSRFToken": client.csrf, "Accept": "application/json", "Referer": base_url + "/"}
    size = source.stat().st_size
    info = client.http.post(
        "/uploads/",
        headers=headers,
        # force: the same file again is not matched to the earlier upload (that would unlink it in the last part)
        data={"filename": "big.mp4", "size": str(size), "interval": "30", "force": "on"},
    ).json()
    step = info["part_bytes"]
    with Probed(base_url) as probed, open(source, "rb") as fh:
        began = time.monotonic()
        offset = 0
        while offset < size:
            data = fh.read(step)
            part_began = time.monotonic()
            r = client.http.put(
                info["upload_url"],
                content=data,
                headers={**headers, "Content-Range": f"bytes {offset}-{offset + len(data) - 1}/{size}"},
            )
            offset = r.json()["offset"]
            last = (part_began, time.monotonic())
        ended = time.monotonic()
        whole, whole_idle = probed.p99(began, ended)
        last_p99, last_idle = probed.p99(*last)
        last_samples = probed.app.window(*last)
    client.close()
    return {
        "file_mb": size // 2**20,
        "upload_s": ended - began,
        "last_part_ms": (last[1] - last[0]) * 1000,
        "healthz_p99_ms": whole,
        "idle_p99_ms": whole_idle,
        "last_part_healthz_p99_ms": last_p99,
        "last_part_idle_p99_ms": last_idle,
        "last_part_samples_ms": last_samples,
    }


def whole_file_hash_ms(source: Path) -> float:
    t = time.perf_counter()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            digest.update(chunk)
    return (time.perf_counter() - t) * 1000


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
    with Probed(base_url) as probed:
        time.sleep(0.3)
        t = time.monotonic()
        r = client.http.post(
            "/uploads/",
            headers=headers,
            data={"filename": "a.mp4", "size": "1000", "interval": "30", "transcribe": "on"},
            files={"subtitles": ("talk.srt", srt, "application/x-subrip")},
        )
        ended = time.monotonic()
        ours, idle = probed.p99(t, ended)
        worst = max(probed.app.window(t, ended), default=float("nan"))
    client.close()
    return {
        "status": r.status_code,
        "request_ms": (ended - t) * 1000,
        "healthz_p99_ms": ours,
        "healthz_max_ms": worst,
        "idle_p99_ms": idle,
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


def metrics_cost(on_url: str, off_url: str, rounds: int = 40) -> dict:
    """Requests that record metrics, against a daphne that records nothing, interleaved round by round:
    opening and cancelling an upload (a task event: repurposer_events_total) and opening and closing a task
    WebSocket (repurposer_websockets up and down); then one recording call in this process and a scrape."""
    import asyncio

    from tests.live import Client

    def timed(base_url: str) -> dict[str, float]:
        client = Client(base_url).login("bench", "bench-pass-1234")
        client.http.get("/")
        headers = {"X-CSRFToken": client.csrf, "Accept": "application/json", "Referer": base_url + "/"}
        t = time.perf_counter()
        opened = client.http.post("/uploads/", headers=headers, data={"filename": "a.mp4", "size": "1000"})
        task_id = opened.json()["task_id"]
        t1 = time.perf_counter()
        client.cancel(task_id)
        t2 = time.perf_counter()

        async def ws() -> None:
            async with client.ws_connect(task_id) as sock:
                await sock.recv()

        asyncio.run(ws())
        t3 = time.perf_counter()
        client.close()
        return {"open_upload": t1 - t, "cancel": t2 - t1, "websocket": t3 - t2}

    samples: dict[str, dict[str, list[float]]] = {"on": {}, "off": {}}
    for _ in range(rounds):
        for name, url in (("on", on_url), ("off", off_url)):
            for key, seconds in timed(url).items():
                samples[name].setdefault(key, []).append(seconds)
    out: dict = {
        f"{key}_ms_p50_{name}": statistics.median(values) * 1000
        for name, kinds in samples.items()
        for key, values in kinds.items()
    }
    from ops import metrics

    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        metrics.observe_stage("bench", 0.5)
        metrics.count_event("bench")
    out["record_us"] = (time.perf_counter() - t) / (2 * n) * 1e6
    client = Client(on_url).login("bench", "bench-pass-1234")
    scrapes = []
    for _ in range(20):
        t = time.perf_counter()
        client.http.get("/metrics")
        scrapes.append(time.perf_counter() - t)
    client.close()
    out["scrape_ms_p50"] = statistics.median(scrapes) * 1000
    return out


@contextlib.contextmanager
def web_only(stack: LiveStack) -> Iterator[LiveStack]:
    stack.start(queue=False)
    try:
        yield stack
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops")
    parser.add_argument("--mb", type=int, default=1024, help="size of the uploaded file (1024 MB)")
    parser.add_argument("--reader-seconds", type=float, default=30, help="how long each slow reader reads (30)")
    parser.add_argument("--rounds", type=int, default=2, help="uploads and subtitle checks per daphne, in turn (2)")
    parser.add_argument(
        "--only-uploads", action="store_true", help="only the upload figures (before/ours), nothing else"
    )
    args = parser.parse_args(argv)
    run_dir, mode = start_run()
    from django.contrib.auth.models import User
    from django.db import connection

    from jobs.models import ProcessingTask
    from tests import nginx
    from tests.live import database_url_for

    _user()
    os.environ["USER_MAX_OPEN_UPLOADS"] = "1000"  # every subtitle check leaves an upload open
    media = Path(os.environ["MEDIA_ROOT"])
    media.mkdir(parents=True, exist_ok=True)
    url = database_url_for(connection.settings_dict)
    out: dict = {"mode": mode, "load_before": os.getloadavg()}
    source = make_big_file(run_dir, args.mb)
    baseline_env = {
        "REPURPOSER_OFFLOAD_INLINE": "1",
        "REPURPOSER_DAPHNE_8K_BODIES": "1",
        "REPURPOSER_THREAD_PER_REQUEST": "1",
    }
    before = LiveStack(database_url=url, media_root=media, extra_env=baseline_env)
    live = LiveStack(database_url=url, media_root=media, extra_env={"MEDIA_ACCEL_REDIRECT": "/_media/"})
    with web_only(before), web_only(live):
        # Taken in turn, twice, so a change in the machine's load falls on both alike; the means are printed.
        for name, stack in (("before", before), ("ours", live)) * args.rounds:
            out.setdefault(f"uploads_{name}", []).append(upload(stack.base_url, source))
            if not args.only_uploads:
                out.setdefault(f"subtitles_{name}", []).append(subtitle_check(stack.base_url))
            print(json.dumps(out), flush=True)
        if args.only_uploads:
            return _print_uploads(out)
        out["whole_file_hash_ms"] = whole_file_hash_ms(source)
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
        print(json.dumps(out), flush=True)
    # Two daphnes alike but for the metrics, nothing else running against the database.
    off = LiveStack(database_url=url, media_root=media, extra_env={"REPURPOSER_METRICS_OFF": "1"})
    with web_only(LiveStack(database_url=url, media_root=media)) as on, web_only(off):
        out["metrics"] = metrics_cost(on.base_url, off.base_url)
    with web_only(LiveStack(database_url=url, media_root=media)) as embedded:
        out["rss_embedded_mb"] = slow_readers(
            embedded.base_url, embedded.procs["web"].pid, media_url, args.reader_seconds
        )
    out["load_after"] = os.getloadavg()

    def mean(runs: list[dict]) -> dict:
        return {key: statistics.mean(run[key] for run in runs) for key in runs[0] if not key.endswith("_samples_ms")}

    up, ub = mean(out["uploads_ours"]), mean(out["uploads_before"])
    st, sb, mc = mean(out["subtitles_ours"]), mean(out["subtitles_before"]), out["metrics"]
    nan = float("nan")
    rows = [
        (f"{up['file_mb']} MB upload in parts, wall (s)", up["upload_s"], ub["upload_s"], nan),
        ("/healthz p99 during the whole upload (ms)", up["healthz_p99_ms"], ub["healthz_p99_ms"], up["idle_p99_ms"]),
        (
            "last part, wall (ms)",
            up["last_part_ms"],
            ub["last_part_ms"] + out["whole_file_hash_ms"],
            nan,
        ),
        (
            "/healthz p99 during the last part (ms)",
            up["last_part_healthz_p99_ms"],
            ub["last_part_healthz_p99_ms"],
            up["last_part_idle_p99_ms"],
        ),
        (
            "/healthz p99 during a 5 MB subtitle check (ms)",
            st["healthz_p99_ms"],
            sb["healthz_p99_ms"],
            st["idle_p99_ms"],
        ),
        ("/healthz max during a 5 MB subtitle check (ms)", st["healthz_max_ms"], sb["healthz_max_ms"], nan),
        ("the 5 MB subtitle request itself (ms)", st["request_ms"], sb["request_ms"], nan),
        (
            f"daphne RSS growth, 4 readers x {args.reader_seconds:g} s at 2 MB/s (MB)",
            out["rss_nginx_mb"],
            out["rss_embedded_mb"],
            nan,
        ),
    ]
    for key, label in (
        ("open_upload", "open an upload"),
        ("cancel", "cancel it (an event)"),
        ("websocket", "a WebSocket open/close"),
    ):
        rows.append((f"{label}, p50 (ms), metrics on vs off", mc[f"{key}_ms_p50_on"], mc[f"{key}_ms_p50_off"], nan))
    rows += [
        ("metrics: one observe/inc (µs)", mc["record_us"], nan, nan),
        ("metrics: one /metrics scrape p50 (ms)", mc["scrape_ms_p50"], nan, nan),
    ]
    print(f"\n{mode}\n{'metric':58} {'ours':>9} {'baseline':>9} {'idle srv':>9}")
    for name, ours, base, idle in rows:
        print(f"{name:58} {ours:9.1f} {base:9.1f} {idle:9.1f}")
    print("baselines: upload/subtitles = 8 KB body messages, the subtitle parse in the request, and the old")
    print(
        "whole-file hash added to the last part; RSS = the readers straight to daphne (ours: nginx, X-Accel-Redirect);"
    )
    print(
        "metrics = a daphne recording nothing. 'idle srv' = an idle server probed at the same time (the machine's load)."
    )
    print(f"load average before {out['load_before']}, after {out['load_after']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ops.json").write_text(json.dumps(out, indent=2))
    return 0


def _print_uploads(out: dict) -> int:
    """The upload rows alone (--only-uploads), each run of each daphne side by side."""
    out["load_after"] = os.getloadavg()
    print(f"\n{out['mode']}\n{'metric':46} {'ours':>9} {'baseline':>9} {'idle srv':>9}")
    for ours, base in zip(out["uploads_ours"], out["uploads_before"], strict=True):
        for key, label in (
            ("upload_s", "upload in parts, wall (s)"),
            ("healthz_p99_ms", "/healthz p99 during the whole upload (ms)"),
            ("last_part_ms", "last part, wall (ms)"),
            ("last_part_healthz_p99_ms", "/healthz p99 during the last part (ms)"),
        ):
            idle = {"healthz_p99_ms": "idle_p99_ms", "last_part_healthz_p99_ms": "last_part_idle_p99_ms"}.get(key)
            print(f"{label:46} {ours[key]:9.1f} {base[key]:9.1f} {ours[idle] if idle else float('nan'):9.1f}")
    # One last part is ~0.1 s, a dozen probes: its p99 is its slowest probe. All rounds' last parts together:
    for name in ("ours", "before"):
        pooled = [ms for run in out[f"uploads_{name}"] for ms in run["last_part_samples_ms"]]
        if not pooled:  # no probe answered during any last part (or no round ran)
            print(f"last parts of all rounds, {name}: no probes")
            continue
        print(
            f"last parts of all rounds, {name}: {len(pooled)} probes, p99 {p99(pooled):.1f} ms, max {max(pooled):.1f}"
        )
    print("baseline = REPURPOSER_DAPHNE_8K_BODIES=1 REPURPOSER_THREAD_PER_REQUEST=1 (stock daphne/Django paths)")
    print(f"load average before {out['load_before']}, after {out['load_after']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ops-uploads.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
