"""Throughput and fairness benchmark: many short jobs through the real queue, and one user's job behind another's backlog.

    .venv/bin/python -m bench.throughput [--jobs 1000] [--users 10]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/repurposer_bench REDIS_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python -m bench.throughput

What runs (a real daphne + a real qcluster with the default 2 workers, as tests.live starts them)
  * Throughput: `--jobs` uploads of a 3 s clip (transcript, commentary and ideas off; "process it again" on,
    so none is answered from an earlier result), sent over HTTP as the upload page does (open + one PUT),
    round-robin from `--users` accounts (the default per-user limit of 100 waiting jobs holds, so 1,000 jobs
    need 10 users). The workers process them while they arrive. Reported: jobs per hour (jobs ÷ time from
    the first submit to the last job's end), submit latency p50/p95 (the open + PUT exchange, under that
    load), queue wait p50/p95 (a task's start − its creation), and `/healthz` p99, polled every 100 ms by a
    separate client during the run, and CPU seconds per job (user + system of the qcluster's process tree,
    ffmpeg included, and of daphne's, over the phase, ÷ jobs), beside the job length.
  * Fairness: user A queues 50 jobs; once two run, user B submits one. B's wait (its start − its creation)
    is compared with what plain FIFO would have given it in the same run: the start of A's last job − B's
    creation (FIFO starts B after every job queued before it). Target: at most one job's length.

Output: a table (metric | ours | baseline | target | met?) on stdout and bench-results/throughput.json.
The issue's figures before fair dispatch (measured for the engine alone) are printed as the baseline for jobs/h.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.backbone import percentile, run_and_report, start_run

CLIP_SECONDS = 3
TARGET_JOBS_PER_HOUR = 15000
TARGET_SUBMIT_P95_MS = 100.0
# The figures for the engine before fair dispatch (jobs/h: SQLite, PostgreSQL + Redis).
BEFORE = {"sqlite": 17193, "postgresql": 13765}


class HealthPoller(threading.Thread):
    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.ms: list[float] = []
        self.failures = 0
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self.halt.wait(0.1):
                started = time.perf_counter()
                try:
                    ok = http.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.ms.append((time.perf_counter() - started) * 1000)
                self.failures += not ok


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process tree: each live process's own, plus what its
    reaped children used (a worker's finished ffmpeg runs, the leader's recycled workers), so nothing counts
    twice: a live process is in no one's children times."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return total
    for proc in tree:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue  # ended between listing and reading: its time is in its parent's children times next read
        total += t.user + t.system + t.children_user + t.children_system
    return total


def stack_cpu(stack) -> dict[str, float]:
    return {name: cpu_seconds(proc.pid) for name, proc in stack.procs.items()}


def users(n: int, prefix: str) -> list[tuple[str, str]]:
    from django.contrib.auth import get_user_model

    made = []
    for i in range(n):
        name, password = f"{prefix}-{i}", f"{prefix}-pass-{i}-7391"
        user, _ = get_user_model().objects.get_or_create(username=name)
        user.set_password(password)
        user.save()
        made.append((name, password))
    return made


def mine():
    """The bench users' tasks (a server database may hold others': they are never touched)."""
    from jobs.models import ProcessingTask

    return ProcessingTask.objects.filter(owner__username__startswith="bench-")


def wait_all_done(timeout: float) -> None:
    from django.db import close_old_connections

    from jobs.models import ProcessingTask

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        if not mine().exclude(status__in=ProcessingTask.FINISHED).exists():
            return
        time.sleep(0.5)
    raise TimeoutError("the jobs did not all finish in time")


def submit(client, clip: Path, i: int) -> tuple[float, str]:
    started = time.perf_counter()
    answer = client.upload_in_parts(clip, interval=10, name=f"clip-{i}.mp4", fields={"force": "on"})
    if not answer.get("complete"):
        raise RuntimeError(f"upload did not complete: {answer}")
    return (time.perf_counter() - started) * 1000, answer["task_id"]


def run(jobs: int, n_users: int, clip: Path, run_dir: Path) -> dict:
    from django.conf import settings

    from jobs.models import ProcessingTask
    from tests.live import Client, LiveStack, database_url_for

    stack = LiveStack(
        database_url=database_url_for(settings.DATABASES["default"]), media_root=Path(settings.MEDIA_ROOT)
    )
    out: dict = {}
    try:
        print(f"Starting daphne + qcluster (2 workers); logs in {run_dir}/", flush=True)
        stack.start()
        clients = [Client(stack.base_url).login(*u) for u in users(n_users, "bench-tp")]
        submit(clients[0], clip, -1)  # warm-up, not measured
        wait_all_done(120)
        mine().delete()
        poller = HealthPoller(stack.base_url)
        poller.start()
        print(f"Throughput: {jobs} uploads of a {CLIP_SECONDS} s clip from {n_users} users…", flush=True)
        began = time.time()
        cpu_before = stack_cpu(stack)
        submit_ms = []
        for i in range(jobs):
            ms, _ = submit(clients[i % n_users], clip, i)
            submit_ms.append(ms)
        wait_all_done(3600)
        cpu_after = stack_cpu(stack)
        poller.halt.set()
        rows = list(mine().values_list("status", "created_at", "started_at", "finished_at"))
        ended = max(r[3] for r in rows).timestamp()
        waits = [(r[2] - r[1]).total_seconds() for r in rows if r[2]]
        lengths = [(r[3] - r[2]).total_seconds() for r in rows if r[2] and r[3]]
        out["throughput"] = {
            "jobs": jobs,
            "succeeded": sum(r[0] == "succeeded" for r in rows),
            "jobs_per_hour": round(jobs / (ended - began) * 3600),
            "submit_p50_ms": percentile(submit_ms, 50),
            "submit_p95_ms": percentile(submit_ms, 95),
            "queue_wait_p50_s": percentile(waits, 50),
            "queue_wait_p95_s": percentile(waits, 95),
            "job_p50_s": percentile(lengths, 50),
            "healthz_p99_ms": percentile(poller.ms, 99),
            "healthz_failures": poller.failures,
            # CPU per job over the phase (the healthz poller's requests are in the web's share too).
            "cpu_s_per_job_queue": round((cpu_after.get("queue", 0) - cpu_before.get("queue", 0)) / jobs, 3),
            "cpu_s_per_job_web": round((cpu_after.get("web", 0) - cpu_before.get("web", 0)) / jobs, 3),
        }

        print("Fairness: A queues 50, then B submits one…", flush=True)
        mine().delete()
        a, b = (Client(stack.base_url).login(*u) for u in users(2, "bench-fair"))
        a_ids = [submit(a, clip, i)[1] for i in range(50)]
        deadline = time.monotonic() + 60
        while ProcessingTask.objects.filter(pk__in=a_ids, status="running").count() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        _, b_id = submit(b, clip, 99)
        wait_all_done(600)
        bt = ProcessingTask.objects.get(pk=b_id)
        a_rows = list(ProcessingTask.objects.filter(pk__in=a_ids).values_list("started_at", "finished_at"))
        b_wait = (bt.started_at - bt.created_at).total_seconds()
        fifo_wait = max(0.0, (max(s for s, _ in a_rows) - bt.created_at).total_seconds())
        a_ahead = sum(bt.created_at < s < bt.started_at for s, _ in a_rows)
        job_len = percentile([(f - s).total_seconds() for s, f in a_rows], 50)
        out["fairness"] = {
            "b_wait_s": round(b_wait, 3),
            "fifo_wait_s": round(fifo_wait, 3),
            "a_jobs_started_between": a_ahead,
            "job_length_p50_s": job_len,
        }
    finally:
        stack.stop()
    return out


def table(res: dict, backend: str) -> str:
    t, f = res["throughput"], res["fairness"]
    before = BEFORE[backend]

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    rows = [
        (
            "jobs per hour",
            f"{t['jobs_per_hour']:,}",
            f"{before:,} (issue, before)",
            f"≥ {TARGET_JOBS_PER_HOUR:,}",
            met(t["jobs_per_hour"] >= TARGET_JOBS_PER_HOUR),
        ),
        ("succeeded", f"{t['succeeded']}/{t['jobs']}", "", "all", met(t["succeeded"] == t["jobs"])),
        (
            "submit p50 / p95",
            f"{t['submit_p50_ms']:.0f} / {t['submit_p95_ms']:.0f} ms",
            "",
            f"p95 ≤ {TARGET_SUBMIT_P95_MS:.0f} ms",
            met(t["submit_p95_ms"] <= TARGET_SUBMIT_P95_MS),
        ),
        ("queue wait p50 / p95", f"{t['queue_wait_p50_s']:.1f} / {t['queue_wait_p95_s']:.1f} s", "", "", ""),
        ("job length p50", f"{t['job_p50_s']:.2f} s", "", "", ""),
        (
            "CPU per job: workers / web",
            f"{t['cpu_s_per_job_queue']:.2f} / {t['cpu_s_per_job_web']:.2f} s",
            f"{t['job_p50_s']:.2f} s (job length p50)",
            "",
            "",
        ),
        ("/healthz p99 (failures)", f"{t['healthz_p99_ms']:.0f} ms ({t['healthz_failures']})", "", "", ""),
        (
            "B's wait behind A's 50",
            f"{f['b_wait_s']:.2f} s",
            f"{f['fifo_wait_s']:.2f} s (FIFO, same run)",
            f"≤ one job ({f['job_length_p50_s']:.2f} s)",
            met(f["b_wait_s"] <= f["job_length_p50_s"] + 0.5),
        ),
        (
            "A's jobs started before B's",
            str(f["a_jobs_started_between"]),
            "",
            "≤ 1",
            met(f["a_jobs_started_between"] <= 1),
        ),
    ]
    widths = [max(len(r[i]) for r in [("metric", "ours", "baseline", "target", "met?"), *rows]) for i in range(5)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
        for r in [("metric", "ours", "baseline", "target", "met?"), *rows]
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args(argv)
    run_dir, mode = start_run()
    from tests import media

    clip = media.h264_aac(run_dir / "clip.mp4", seconds=CLIP_SECONDS)
    work = lambda: run(args.jobs, args.users, clip, run_dir)  # noqa: E731
    return run_and_report("throughput", "Throughput benchmark", run_dir, mode, argv, work, table)


if __name__ == "__main__":
    sys.exit(main())
