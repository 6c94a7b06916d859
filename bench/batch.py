"""A batch of videos with the default options: total time, and the event rate the batch page's socket carries.

    .venv/bin/python -m bench.batch [--videos 20] [--seconds 60]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/repurposer_bench REDIS_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python -m bench.batch

What runs (a real daphne + a real qcluster with the default 2 workers, as tests.live starts them)
  1. Baseline, in the same run: one clip alone, uploaded as the upload page does; its time from submit to end.
  2. The batch: `--videos` copies of a `--seconds` clip of the benchmark talk (speech, a keyframe every 2 s),
     uploaded one after another with the part protocol and grouped by POST /batches/new/, as upload.js does,
     with the page's defaults (transcript, commentary and ideas on; "process it again" on, so no copy is
     answered from another's result). The batch page's WebSocket (/ws/tasks/, the user socket) is open
     throughout; every event it sends is counted with its arrival time.
Reported: the batch's total time (first upload opened → last video ended) against the ideal for the default
2 workers (videos ÷ 2 × the single video's time), per-video time p50/p95, queue wait p50/p95, and the socket's
events: count, mean events/s over the batch, the busiest second, and whether every event row reached it.

Output: a table on stdout and bench-results/batch-<database>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench.backbone import CACHE, head_of, percentile, run_and_report, source_video, start_run

WORKERS = 2  # the default Q_WORKERS the stack starts with
# The upload page's boxes left as they are (ticked): transcript, commentary and ideas on.
DEFAULTS = {"transcribe": "on", "commentary": "on", "ideas": "on", "force": "on"}


class SocketCounter(threading.Thread):
    """The batch page's user socket in a thread of its own: the arrival time and (task, seq) of each event."""

    def __init__(self, url: str, headers: dict) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.events: list[tuple[float, str, int]] = []
        self.open = threading.Event()
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._listen())
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.open.set()

    async def _listen(self) -> None:
        import websockets

        async with websockets.connect(self.url, additional_headers=self.headers, max_size=None) as ws:
            self.open.set()
            while not self.halt.is_set():
                try:
                    text = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                event = json.loads(text)
                self.events.append((time.time(), event["task"], event["seq"]))


def wait_done(ids: list[str], timeout: float) -> None:
    from django.db import close_old_connections

    from jobs.models import ProcessingTask

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        if not ProcessingTask.objects.filter(pk__in=ids).exclude(status__in=ProcessingTask.FINISHED).exists():
            return
        time.sleep(0.5)
    raise TimeoutError("the videos did not all finish in time")


def run(videos: int, clip: Path, run_dir: Path) -> dict:
    from django.conf import settings
    from django.db import close_old_connections

    from jobs.models import ProcessingTask, ProgressUpdate
    from tests.live import Client, LiveStack, database_url_for

    from .throughput import users

    stack = LiveStack(
        database_url=database_url_for(settings.DATABASES["default"]), media_root=Path(settings.MEDIA_ROOT)
    )
    out: dict = {}
    try:
        print(f"Starting daphne + qcluster ({WORKERS} workers); logs in {run_dir}/", flush=True)
        stack.start()
        client = Client(stack.base_url).login(*users(1, "bench-batch")[0])

        print("Baseline: one video alone…", flush=True)
        began = time.time()
        single = client.upload_in_parts(clip, name="alone.mp4", fields=DEFAULTS)["task_id"]
        wait_done([single], 3600)
        close_old_connections()
        alone = ProcessingTask.objects.get(pk=single)
        out["single"] = {"status": alone.status, "total_s": round(alone.finished_at.timestamp() - began, 2)}

        socket = SocketCounter(
            stack.base_url.replace("http://", "ws://") + "/ws/tasks/", client.ws_headers(origin=stack.base_url)
        )
        socket.start()
        socket.open.wait(30)
        if socket.error is not None:
            raise RuntimeError(f"the batch page's socket did not open: {socket.error}")
        print(f"The batch: {videos} videos…", flush=True)
        began = time.time()
        ids = [client.upload_in_parts(clip, name=f"video-{i}.mp4", fields=DEFAULTS)["task_id"] for i in range(videos)]
        headers = {"X-CSRFToken": client.csrf, "Accept": "application/json", "Referer": stack.base_url + "/"}
        made = client.http.post("/batches/new/", data={"uploads": ids, "title": "bench batch"}, headers=headers)
        if made.status_code != 201:
            raise RuntimeError(f"the batch was refused: {made.status_code} {made.text[:300]}")
        submitted = time.time()
        # A video that had ended before the batch was made is made again in it (as on the page): follow both.
        from jobs.models import Batch

        batch = Batch.objects.get(pk=made.json()["batch_id"])
        ids = sorted(
            set(ids)
            | {str(pk) for pk in ProcessingTask.objects.filter(batch_items__batch=batch).values_list("pk", flat=True)}
        )
        wait_done(ids, 6 * 3600)
        from streaming.consumers import SAFETY_POLL_SECONDS

        # The last events' wake-ups, and at worst one whole safety poll of the socket after them.
        time.sleep(SAFETY_POLL_SECONDS + 1)
        socket.halt.set()
        socket.join(10)
        if socket.error is not None:  # its count would be short for a reason that is not the app's
            raise RuntimeError(f"the batch page's socket failed during the run: {socket.error}")
        close_old_connections()
        rows = list(
            ProcessingTask.objects.filter(pk__in=ids).values_list("status", "created_at", "started_at", "finished_at")
        )
        ended = max(r[3] for r in rows).timestamp()
        rows_written = ProgressUpdate.objects.filter(task_id__in=ids).count()
        mine = [(at, task, seq) for at, task, seq in socket.events if task in set(ids)]
        per_second = Counter(int(at) for at, _, _ in mine)
        span = (max(at for at, _, _ in mine) - min(at for at, _, _ in mine)) if mine else 0.0
        out["batch"] = {
            "videos": videos,
            "tasks": len(ids),
            "succeeded": sum(r[0] == "succeeded" for r in rows),
            "total_s": round(ended - began, 2),
            "upload_s": round(submitted - began, 2),
            "ideal_s": round(math.ceil(videos / WORKERS) * out["single"]["total_s"], 2),
            "video_p50_s": percentile([(r[3] - r[2]).total_seconds() for r in rows if r[2] and r[3]], 50),
            "video_p95_s": percentile([(r[3] - r[2]).total_seconds() for r in rows if r[2] and r[3]], 95),
            "queue_wait_p50_s": percentile([(r[2] - r[1]).total_seconds() for r in rows if r[2]], 50),
            "queue_wait_p95_s": percentile([(r[2] - r[1]).total_seconds() for r in rows if r[2]], 95),
            "events_rows": rows_written,
            "events_on_socket": len({(task, seq) for _, task, seq in mine}),
            "events_per_s_mean": round(len(mine) / span, 2) if span else None,
            "events_per_s_peak": max(per_second.values()) if per_second else 0,
        }
    finally:
        stack.stop()
    return out


def table(res: dict) -> str:
    s, b = res["single"], res["batch"]
    rows = [
        ("total time", f"{b['total_s']:.1f} s", f"{b['ideal_s']:.1f} s (ideal: {WORKERS} workers × one alone)"),
        ("  of which uploads", f"{b['upload_s']:.1f} s", ""),
        ("one video alone", "", f"{s['total_s']:.1f} s ({s['status']})"),
        ("succeeded (tasks)", f"{b['succeeded']}/{b['tasks']}", f"{b['videos']} videos"),
        ("video time p50 / p95", f"{b['video_p50_s']:.1f} / {b['video_p95_s']:.1f} s", ""),
        ("queue wait p50 / p95", f"{b['queue_wait_p50_s']:.1f} / {b['queue_wait_p95_s']:.1f} s", ""),
        ("events on the socket / rows", f"{b['events_on_socket']} / {b['events_rows']}", "all rows arrive"),
        ("events/s mean / busiest second", f"{b['events_per_s_mean']} / {b['events_per_s_peak']}", ""),
    ]
    head = ("metric", "batch", "baseline (same run)")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60, help="length of each clip (default 60)")
    args = parser.parse_args(argv)
    run_dir, mode = start_run()
    clip = head_of(CACHE, source_video(CACHE), args.seconds)
    title = f"Batch benchmark — {args.videos} videos of {args.seconds} s, defaults on"
    return run_and_report(
        "batch", title, run_dir, mode, argv, lambda: run(args.videos, clip, run_dir), lambda res, _: table(res)
    )


if __name__ == "__main__":
    sys.exit(main())
