"""Backbone benchmark: a 10-minute 720p talk through the real queue, next to a naive re-encode baseline.

    make bench                      # or: .venv/bin/python -m bench.backbone [--quick] [--submits N] [--keep]

What runs
  * A 10-minute 1280×720 30 fps H.264/AAC video (keyframe every 2 s, espeak-ng speech looped as audio) is
    generated once and cached in bench-results/cache/.
  * Ours: tests.live.LiveStack starts a real daphne and a real qcluster (2 workers) as child processes. A
    client signs in and
      - uploads a 3-second clip N times as the upload page does (POST /uploads/ to open, one raw PUT
        part), cancelling each right away so the workers stay idle: submit latency is the wall time of
        that whole exchange;
      - uploads the 10-minute file the same way (8 MB parts) with 30 s intervals and follows the task's
        WebSocket until `complete`. Time to first chunk and total time are measured from the moment the
        last part's answer returned (the file is on the server and the task is queued); the upload
        itself is reported on its own row. Event latency
        is client receive time − the event's `ts` (the row's created_at; same machine, same clock), over
        the events written after the socket was open (replayed ones measure the replay, not the stream).
        The qcluster process tree (and daphne) is sampled with psutil every 100 ms for peak RSS.
  * Baseline ("the old system"): in this process, after the stack is stopped, each 30 s chunk is fully
    re-encoded in turn (the app's own transcode command: libx264 veryfast crf 23 + AAC 128k), and a chunk
    counts only once its ffmpeg has finished. Its clock starts before the probe; it has no upload, queue
    or WebSocket, which if anything flatters it. `--quick` encodes the first 3 chunks and extrapolates.

Where it runs
  Embedded by default: a fresh SQLite database, media folder and logs under bench-results/runs/<time>/
  (the developer's var/ is never touched). With DATABASE_URL and/or REDIS_URL set it runs against those
  instead, and says so. The database must exist, e.g.
      psql -h 127.0.0.1 -U postgres -c 'create database repurposer_bench'
      DATABASE_URL=postgres://postgres@127.0.0.1:5432/repurposer_bench REDIS_URL=redis://127.0.0.1:6379/1 make bench

  * `--transcribe`: the main run also makes the transcript by speech recognition and speaks commentary
    (commentary on, no subtitles), so the first words and the first chunk with commentary are measured.
  * `--seconds S`: only the first S seconds of the video (stream-copied), for a shorter run on a busy machine.
  * `--today`: the main run again on a second stack with today's model path as the baseline (the models
    preloaded in every worker, Whisper base for the first words too, two single-threaded lanes, the first
    interval's commentary waiting for all its words), in the same run, next to ours.

Output: one table (metric | ours | baseline | target | met?) on stdout and the same in
bench-results/backbone.json. The exit status is 0 whether targets are met or not; it is 1 only when the run
itself failed (the task ended in error, a process died, a service was unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
CACHE = RESULTS / "cache"

VIDEO_SECONDS = 600
WIDTH, HEIGHT, FPS = 1280, 720, 30
INTERVAL = 30
CLIP_SECONDS = 3
SAMPLE_EVERY = 0.1  # seconds between RSS samples
QUICK_BASELINE_CHUNKS = 3
MAIN_RUN_TIMEOUT = 900  # seconds; generous: a source that must be transcoded takes minutes here

# Targets from the issue (this 2-core machine).
TARGET_FIRST_CHUNK_S = 2.0
TARGET_TOTAL_RATIO = 0.05
BUSY = ("queued", "running", "uploading")  # tasks that still have work ahead of them
TARGET_TOTAL_RATIO_ASR = 0.15  # the Transcripts issue's goal with speech recognition on
TARGET_EVENT_P95_MS = 150.0
TARGET_SUBMIT_P95_MS = 100.0
TARGET_WORKER_RSS_MB = 300.0
# Issue 16 (speech recognition: first words fast, memory only while needed).
TARGET_FIRST_WORDS_S = 2.5
TARGET_FIRST_COMMENTARY_S = 4.0
TARGET_TOTAL_RATIO_ASR_16 = 0.08
TARGET_WORKER_ASR_MB = 450.0
TARGET_WORKER_PLAIN_MB = 150.0
TARGET_TREE_MB = 900.0

MB = 1024 * 1024

# Spoken-style text for espeak-ng: sentences of varied length with the pauses of someone talking.
SPEECH = """\
Hello and welcome back. Today I want to show you how we take a long recording and turn it into short pieces
you can actually use. First, we look at the file. How long is it? What is inside? Can the browser play it as
it is? If it can, we do not touch the picture at all; we only cut it at the right places. That is the trick.
Now, where are the right places? A video is made of key frames and the small changes between them. If you cut
anywhere else, the first second of the clip is broken. So we move each cut back to the nearest key frame, and
the pieces join again without a gap. Let me say that once more, because it matters. We do not re-encode the
picture. We copy it. That is why the first chunk is ready in about a second, not after a minute. Meanwhile,
the page you are watching plays each chunk as soon as it lands. You can start watching right away, while the
rest of the work goes on in the background. Questions? Good. Let us look at some numbers.
"""


# --- Media ----------------------------------------------------------------------------------------------


def ffmpeg(*args: str, timeout: float = 1800) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=timeout)


def _publish(tmp: Path, final: Path) -> Path:
    """Rename into place only when complete, so an interrupted generation is never mistaken for the cache."""
    tmp.replace(final)
    return final


def speech_track(cache: Path) -> Path:
    """One pass of real synthetic speech (espeak-ng), looped by ffmpeg to cover the video."""
    out = cache / "speech-v1.wav"
    if out.exists():
        return out
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed; run the benchmark with `make bench` (it installs it).")
    tmp = out.with_suffix(".part.wav")
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "160", "-g", "6", "-w", str(tmp), SPEECH.replace("\n", " ")],
        check=True,
        timeout=120,
    )
    return _publish(tmp, out)


def source_video(cache: Path) -> Path:
    """The 10-minute talk: moving test picture, speech audio, a keyframe exactly every 2 s (-g 60, no
    scene-cut keyframes) like a typical screen/camera recording, crf 28 so it stays tens of MB."""
    out = cache / f"talk-{VIDEO_SECONDS}s-{WIDTH}x{HEIGHT}-{FPS}fps-h264-aac-v1.mp4"
    if out.exists():
        return out
    speech = speech_track(cache)
    tmp = out.with_suffix(".part.mp4")
    print(
        f"Generating the {VIDEO_SECONDS // 60}-minute source video once (about 2 minutes; cached as {out})…", flush=True
    )
    started = time.monotonic()
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
        "-stream_loop",
        "-1",
        "-i",
        str(speech),
        "-t",
        str(VIDEO_SECONDS),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "28",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(2 * FPS),
        "-keyint_min",
        str(2 * FPS),
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ar",
        "44100",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(tmp),
    )
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    return _publish(tmp, out)


def head_of(cache: Path, source: Path, seconds: int) -> Path:
    """The first `seconds` of the source, stream-copied (a keyframe every 2 s: the cut is clean), for
    --seconds: a shorter run on a busy machine, measured the same way (both sides of --today use it)."""
    out = cache / f"{source.stem}-first-{seconds}s.mp4"
    if out.exists():
        return out
    tmp = out.with_suffix(".part.mp4")
    ffmpeg("-i", str(source), "-t", str(seconds), "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(tmp))
    return _publish(tmp, out)


def small_clip(cache: Path, source: Path) -> Path:
    """The first seconds of the source, stream-copied: a realistic file that is cheap to upload."""
    out = cache / f"clip-{CLIP_SECONDS}s-v1.mp4"
    if out.exists():
        return out
    tmp = out.with_suffix(".part.mp4")
    ffmpeg("-i", str(source), "-t", str(CLIP_SECONDS), "-c", "copy", "-f", "mp4", str(tmp))
    return _publish(tmp, out)


# --- Small helpers --------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest): no interpolation between samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class PeakRss(threading.Thread):
    """Samples the resident memory of some process trees every SAMPLE_EVERY seconds and keeps the peaks,
    as RSS and as PSS (proportional set size: a page shared by n processes counts 1/n in each, so the
    forked workers' shared interpreter and libraries are not counted once per worker in the tree's sum).

    Short-lived children (a 0.1 s ffprobe) can fall between samples; the long ones (ffmpeg, the Python
    workers) cannot, and those are the ones that matter for the target.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        super().__init__(name="peak-rss", daemon=True)
        self.groups = groups
        self.python_peak: dict[str, int] = {}  # largest single Python process per group
        self.media_peak: dict[str, int] = {}  # largest single ffmpeg/ffprobe per group
        self.tree_peak: dict[str, int] = {}  # largest sum over the group at one instant
        self.python_pss_peak: dict[str, int] = {}  # the same three, as PSS
        self.media_pss_peak: dict[str, int] = {}
        self.tree_pss_peak: dict[str, int] = {}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        from tests.live import pss_bytes

        while not self._halt.is_set():
            for group, pids in self.groups.items():
                total = total_pss = 0
                for pid in pids():
                    try:
                        proc = psutil.Process(pid)
                        rss = proc.memory_info().rss
                        name = proc.name()
                    except psutil.Error:
                        continue  # it ended between listing and reading
                    pss = pss_bytes(pid) or rss  # smaps_rollup gone: it ended; its RSS is the best we have
                    total += rss
                    total_pss += pss
                    media = name.startswith(("ffmpeg", "ffprobe"))
                    peaks = self.media_peak if media else self.python_peak
                    peaks[group] = max(peaks.get(group, 0), rss)
                    peaks = self.media_pss_peak if media else self.python_pss_peak
                    peaks[group] = max(peaks.get(group, 0), pss)
                self.tree_peak[group] = max(self.tree_peak.get(group, 0), total)
                self.tree_pss_peak[group] = max(self.tree_pss_peak.get(group, 0), total_pss)
            self.samples += 1
            self._halt.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def busy_processes(window: float = 1.0, threshold: float = 10.0) -> list[str]:
    """Other processes using the CPU right now (this machine has 2 cores: any of them skews every figure)."""
    import psutil

    me = os.getpid()
    procs = [p for p in psutil.process_iter(["pid", "name", "cmdline"]) if p.pid != me]
    for proc in procs:
        try:
            proc.cpu_percent(None)  # primes the counter; the next call measures over `window`
        except psutil.Error:
            pass
    time.sleep(window)
    busy = []
    for proc in procs:
        try:
            percent = proc.cpu_percent(None)
        except psutil.Error:
            continue
        if percent >= threshold:
            command = " ".join(proc.info["cmdline"] or [proc.info["name"] or "?"])
            busy.append(f"{command[:70]} ({percent:.0f}%)")
    return busy


class MachineBusy:
    """Share of all cores busy (anyone's work, ours included) between construction and `fraction()`."""

    def __init__(self) -> None:
        import psutil

        self._start = psutil.cpu_times()

    def fraction(self) -> float:
        import psutil

        now = psutil.cpu_times()
        total = sum(now) - sum(self._start)
        idle = (now.idle + getattr(now, "iowait", 0)) - (self._start.idle + getattr(self._start, "iowait", 0))
        return 0.0 if total <= 0 else 1 - idle / total


# --- Ours: the real stack -------------------------------------------------------------------------------


@dataclass
class OursResult:
    submit_ms: list[float] = field(default_factory=list)
    upload_s: float = 0.0  # the 10-minute file's POST, bytes included
    upload_bytes: int = 0
    first_chunk_s: float | None = None  # last upload part answered → first chunk_ready received
    first_transcript_s: float | None = None  # last upload part answered → first transcript_ready received
    first_commentary_s: float | None = None  # last upload part answered → first chunk_ready with commentary
    # The first seconds of the job, stage by stage: (what, start s, end s) from the last part's answer.
    timeline: list[tuple[str, float, float]] = field(default_factory=list)
    worker_python_idle_mb: float = 0.0  # largest worker process after the submits, before the main run
    worker_python_idle_pss_mb: float = 0.0
    first_chunk_server_s: float | None = None  # last upload part answered → first chunk_ready row written
    complete_s: float | None = None  # last upload part answered → complete received
    final_type: str = ""
    chunks: int = 0
    copied_chunks: int = 0
    event_latency_ms: list[float] = field(default_factory=list)
    replayed_events: int = 0
    queue_wait_s: float | None = None  # task created → claimed by a worker
    operations_ms: dict[str, list[float]] = field(default_factory=dict)
    worker_python_peak_mb: float = 0.0
    worker_media_peak_mb: float = 0.0
    worker_tree_peak_mb: float = 0.0
    worker_python_pss_peak_mb: float = 0.0  # the same, as PSS (shared pages split between the processes)
    worker_tree_pss_peak_mb: float = 0.0
    web_peak_mb: float = 0.0
    rss_samples: int = 0
    machine_busy: float = 0.0  # share of all cores busy during the main run


async def follow(client: Any, task_id: str, *, timeout: float) -> tuple[list[dict], float]:
    """Every event of the task until it ends, each stamped on receipt; also when the socket opened.

    Our own loop rather than Client.events because the open time is needed to tell replayed events from
    streamed ones.
    """
    import websockets

    events: list[dict] = []
    headers = {"Cookie": client.cookie_header, "Origin": client.base_url}
    async with websockets.connect(client.ws_url(task_id), additional_headers=headers) as ws:
        opened = time.time()
        async with asyncio.timeout(timeout):
            while True:
                raw = await ws.recv()
                received = time.time()  # before parsing: parsing is the client's cost, not the stream's
                event = json.loads(raw)
                event["received"] = received
                events.append(event)
                if event["type"] in ("complete", "error", "cancelled"):
                    return events, opened


@dataclass
class FollowedRun:
    task_id: str
    upload_s: float
    returned: float  # wall clock when the last part's answer came back (the task is queued)
    opened: float  # wall clock when the WebSocket opened
    events: list[dict]
    machine_busy: float


def upload_and_follow(client: Any, stack: Any, source: Path, *, sampler: PeakRss, **upload: Any) -> FollowedRun:
    """Upload `source` as the page does (8 MB raw parts) and follow the task's WebSocket to its end, with
    `sampler` (the caller reads its peaks) running meanwhile; raise with the queue's log if the task did not
    complete."""
    sampler.start()
    machine = MachineBusy()
    try:
        started = time.perf_counter()
        answer = client.upload_in_parts(source, interval=INTERVAL, **upload)
        returned = time.time()  # wall clock, to compare with the events' `ts` and receive times
        upload_s = time.perf_counter() - started
        if not answer.get("complete"):
            raise RuntimeError(f"upload did not complete: {answer}")
        events, opened = asyncio.run(follow(client, answer["task_id"], timeout=MAIN_RUN_TIMEOUT))
    finally:
        sampler.stop()
        busy = machine.fraction()
    if events[-1]["type"] != "complete":
        raise RuntimeError(
            f"the task ended with {events[-1]['type']}: {events[-1].get('message')}\n" + stack.log_text("queue")
        )
    return FollowedRun(answer["task_id"], upload_s, returned, opened, events, busy)


def wait_until_idle(timeout: float = 60) -> None:
    """No task queued or running and nothing waiting in django-q's queue, so the main run has the workers.
    Entries an earlier stack had taken and not acknowledged when it stopped stay locked for Q_RETRY
    seconds and no worker can take them: they are not waiting (with --today they would block the second run)."""
    from django.db import close_old_connections
    from django.utils import timezone
    from django_q.models import OrmQ

    from jobs.models import ProcessingTask

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        waiting = OrmQ.objects.filter(lock__lte=timezone.now()).exists()
        if not ProcessingTask.objects.filter(status__in=BUSY).exists() and not waiting:
            return
        time.sleep(0.2)
    raise RuntimeError("the workers did not go idle after the submit-latency uploads")


def bench_user() -> tuple[str, str]:
    from django.contrib.auth import get_user_model

    username, password = "bench-backbone", "bench-backbone-pass-7391"
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save()
    return username, password


# Today's model path (before issue 16), for --today: what the settings were.
TODAY_ENV = {
    "ASR_PRELOAD": "1",
    "ASR_INT8_FILES": "0",
    "ASR_FAST_FIRST": "0",
    "ASR_LANES": "2",
    "ASR_THREADS": "1",
    "COMMENTARY_EARLY_FIRST": "0",
}
COMMENTARY_FIELDS = {"commentary": "on", "voice": "en-us", "commentary_style": "play-by-play", "original_level": "20"}
# A second main run (--today) uploads the same file: "force" processes it again instead of showing the result.
FORCE_FIELDS = {"force": "on"}


def run_ours(
    source: Path,
    clip: Path,
    *,
    submits: int,
    run_dir: Path,
    transcribe: bool = False,
    language: str = "",
    extra_env: dict[str, str] | None = None,
) -> OursResult:
    from django.conf import settings
    from django.db import close_old_connections

    from jobs.models import PerformanceMetrics, ProcessingTask
    from tests.live import Client, LiveStack, database_url_for

    result = OursResult()
    # The app's own defaults (the tests switch preloading off; here it is whatever the app says), or
    # today's model path for --today.
    env = {"ASR_PRELOAD": "0", **(extra_env or {})}
    stack = LiveStack(
        database_url=database_url_for(settings.DATABASES["default"]),
        media_root=Path(settings.MEDIA_ROOT),
        workers=2,
        extra_env=env,
    )
    try:
        print(f"Starting daphne + qcluster (2 workers); logs in {run_dir}/", flush=True)
        stack.start()
        client = Client(stack.base_url).login(*bench_user())

        # (a) Submit latency. One unmeasured warm-up first: the first POST to a fresh daphne pays one-off
        # imports and connection set-up that no later user sees.
        print(
            f"Submit latency: {submits} uploads of a {CLIP_SECONDS} s clip ({clip.stat().st_size // 1024} KB), "
            "each cancelled at once…",
            flush=True,
        )
        for i in range(submits + 1):
            # What the upload page does: open the upload, PUT the file (one part for a small clip).
            started = time.perf_counter()
            answer = client.upload_in_parts(clip, interval=INTERVAL, name=f"clip-{i}.mp4")
            elapsed_ms = (time.perf_counter() - started) * 1000
            if not answer.get("complete"):
                raise RuntimeError(f"upload did not complete: {answer}")
            if i > 0:
                result.submit_ms.append(elapsed_ms)
            client.cancel(answer["task_id"])
        wait_until_idle()
        idle = PeakRss({"queue": stack.worker_pids})
        idle.start()
        time.sleep(3)  # a preloading worker has its model by now
        idle.stop()
        result.worker_python_idle_mb = idle.python_peak.get("queue", 0) / MB
        result.worker_python_idle_pss_mb = idle.python_pss_peak.get("queue", 0) / MB

        # (b) The main run, sampled for memory throughout.
        sampler = PeakRss({"queue": stack.worker_pids, "web": lambda: [stack.procs["web"].pid]})
        result.upload_bytes = source.stat().st_size
        print(
            f"Main run: uploading {source.name} ({result.upload_bytes / MB:.0f} MB), {INTERVAL} s intervals…",
            flush=True,
        )
        # With --transcribe, offline speech recognition runs beside.
        fields = {**FORCE_FIELDS, **(COMMENTARY_FIELDS if transcribe else {})}
        if transcribe and language:
            fields["speech_language"] = language
        run = upload_and_follow(client, stack, source, sampler=sampler, transcribe=transcribe, fields=fields)
        result.upload_s, result.machine_busy, result.final_type = run.upload_s, run.machine_busy, "complete"
        task_id, events, opened, returned = run.task_id, run.events, run.opened, run.returned
        for event in events:
            written = datetime.fromisoformat(event["ts"]).timestamp()
            if written < opened:
                result.replayed_events += 1
            else:
                result.event_latency_ms.append((event["received"] - written) * 1000)
        first = next((e for e in events if e["type"] == "chunk_ready"), None)
        if first is not None:
            result.first_chunk_s = first["received"] - returned
            result.first_chunk_server_s = datetime.fromisoformat(first["ts"]).timestamp() - returned
        first_words = next((e for e in events if e["type"] == "transcript_ready"), None)
        if first_words is not None:
            result.first_transcript_s = first_words["received"] - returned
        spoken = next((e for e in events if e["type"] == "chunk_ready" and e["data"].get("has_commentary")), None)
        if spoken is not None:
            result.first_commentary_s = spoken["received"] - returned
        result.complete_s = events[-1]["received"] - returned
        result.chunks = events[-1]["data"].get("chunks", 0)
        result.copied_chunks = events[-1]["data"].get("copied_chunks", 0)

        # Where the worker's time went, from the app's own PerformanceMetrics rows.
        close_old_connections()
        task = ProcessingTask.objects.get(pk=task_id)
        if task.started_at:
            result.queue_wait_s = (task.started_at - task.created_at).total_seconds()
        for op, ms in PerformanceMetrics.objects.filter(task_id=task.pk).values_list("operation", "duration_ms"):
            result.operations_ms.setdefault(op, []).append(ms)
        if transcribe:
            result.timeline = early_timeline(task.pk, events, returned)

        result.worker_python_peak_mb = sampler.python_peak.get("queue", 0) / MB
        result.worker_media_peak_mb = sampler.media_peak.get("queue", 0) / MB
        result.worker_tree_peak_mb = sampler.tree_peak.get("queue", 0) / MB
        result.worker_python_pss_peak_mb = sampler.python_pss_peak.get("queue", 0) / MB
        result.worker_tree_pss_peak_mb = sampler.tree_pss_peak.get("queue", 0) / MB
        result.web_peak_mb = sampler.tree_peak.get("web", 0) / MB
        result.rss_samples = sampler.samples
        return result
    finally:
        stack.stop()


TIMELINE_SECONDS = 20.0  # how much of the job's start the timeline shows


def early_timeline(task_id: Any, events: list[dict], returned: float) -> list[tuple[str, float, float]]:
    """The job's first seconds as (what, start, end), in seconds from the last part's answer: each
    PerformanceMetrics row that started in them (a row is written when its operation ends, so it starts
    `duration_ms` earlier) and the first transcript and chunk events (received by the client)."""
    from jobs.models import PerformanceMetrics

    rows = []
    for op, ms, data, created in PerformanceMetrics.objects.filter(task_id=task_id).values_list(
        "operation", "duration_ms", "data", "created_at"
    ):
        end = created.timestamp() - returned
        start = end - ms / 1000
        if start > TIMELINE_SECONDS:
            continue
        detail = {k: data[k] for k in ("index", "engine", "language", "cached") if k in data}
        what = op + (" " + " ".join(f"{k}={v}" for k, v in detail.items()) if detail else "")
        rows.append((what, round(start, 3), round(end, 3)))
    firsts = {
        "event: first transcript_ready": lambda e: e["type"] == "transcript_ready",
        "event: first chunk_ready": lambda e: e["type"] == "chunk_ready",
        "event: first chunk with commentary": lambda e: e["type"] == "chunk_ready" and e["data"].get("has_commentary"),
    }
    for name, match in firsts.items():
        event = next((e for e in events if match(e)), None)
        if event is not None:
            source = event["data"].get("source")
            at = round(event["received"] - returned, 3)
            rows.append((name + (f" ({source})" if source else ""), at, at))
    return sorted(rows, key=lambda row: (row[1], row[2]))


def timeline_table(runs: dict[str, OursResult]) -> str:
    lines = []
    for name, run in runs.items():
        if not run.timeline:
            continue
        lines.append(f"Timeline of the first {TIMELINE_SECONDS:.0f} s, {name} (seconds from the last part's answer):")
        lines += [f"  {start:7.2f} → {end:7.2f}  {what}" for what, start, end in run.timeline]
    return "\n".join(lines)


# --- Baseline: sequential full re-encode ----------------------------------------------------------------


@dataclass
class BaselineResult:
    chunks_total: int
    chunks_encoded: int
    probe_s: float
    chunk_s: list[float]
    first_chunk_s: float  # baseline start (before the probe) → first chunk's ffmpeg finished
    total_s: float  # measured, or extrapolated when not every chunk was encoded
    extrapolated: bool
    ffmpeg_peak_mb: float
    machine_busy: float  # share of all cores busy while it ran


def naive_chunk_argv(source: Path, start: float, duration: float, out: Path) -> list[str]:
    """One chunk cut and fully re-encoded on its own (the app's transcode settings, video and audio)."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-ss", f"{start:.3f}", "-i", f"file:{source}",
            "-t", f"{duration:.3f}", "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "mpegts",
            str(out)]  # fmt: skip


def run_baseline(source: Path, *, limit: int | None, workdir: Path) -> BaselineResult:
    """Re-encode every 30 s chunk one after another, as the old system did, with the app's own encoder
    settings (libx264 veryfast crf 23, AAC 128k: `naive_chunk_argv`), so the only difference from ours is
    the architecture."""
    import psutil

    from media_pipeline.plan import plan_intervals
    from media_pipeline.probe import Limits, probe

    workdir.mkdir(parents=True, exist_ok=True)
    machine = MachineBusy()
    started = time.perf_counter()
    info = probe(source, limits=Limits())
    probe_s = time.perf_counter() - started
    # No keyframe snapping, and every chunk marked as not starting on one: all of them are transcoded.
    plan = [replace(iv, starts_on_keyframe=False) for iv in plan_intervals(info, interval=INTERVAL)]
    todo = plan[:limit] if limit else plan
    label = f"first {len(todo)} of {len(plan)}" if len(todo) < len(plan) else f"all {len(plan)}"
    print(f"Baseline: re-encoding {label} {INTERVAL} s chunks one after another…", flush=True)
    chunk_s: list[float] = []
    first_chunk_s = 0.0
    peak = 0
    for iv in todo:
        out = workdir / f"{iv.index:05d}.ts"
        chunk_started = time.perf_counter()
        proc = subprocess.Popen(naive_chunk_argv(source, iv.start, iv.duration, out), stdin=subprocess.DEVNULL)
        watched = psutil.Process(proc.pid)
        while True:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            try:
                proc.wait(timeout=SAMPLE_EVERY)
                break
            except subprocess.TimeoutExpired:
                continue
        if proc.returncode != 0:
            raise RuntimeError(f"baseline ffmpeg failed on chunk {iv.index} (exit {proc.returncode})")
        chunk_s.append(time.perf_counter() - chunk_started)
        if iv.index == 0:
            first_chunk_s = time.perf_counter() - started
        out.unlink()
    extrapolated = len(todo) < len(plan)
    if extrapolated:
        # Chunks are the same length and content, so the mean of the first few stands for the rest.
        total_s = probe_s + sum(chunk_s) / len(chunk_s) * len(plan)
    else:
        total_s = time.perf_counter() - started
    return BaselineResult(
        chunks_total=len(plan),
        chunks_encoded=len(todo),
        probe_s=probe_s,
        chunk_s=chunk_s,
        first_chunk_s=first_chunk_s,
        total_s=total_s,
        extrapolated=extrapolated,
        ffmpeg_peak_mb=peak / MB,
        machine_busy=machine.fraction(),
    )


# --- Report ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    ours: str
    baseline: str = "—"
    target: str = "—"
    met: str = "—"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _met(value: float | None, limit: float) -> str:
    if value is None:
        return "NO (no value)"
    return "yes" if value <= limit else "NO"


def build_rows(ours: OursResult, base: BaselineResult | None, *, duration: float) -> list[Row]:
    target = TARGET_TOTAL_RATIO_ASR if ours.first_transcript_s is not None else TARGET_TOTAL_RATIO
    submit_p50, submit_p95 = percentile(ours.submit_ms, 50), percentile(ours.submit_ms, 95)
    event_p50, event_p95 = percentile(ours.event_latency_ms, 50), percentile(ours.event_latency_ms, 95)
    ratio = None if ours.complete_s is None else ours.complete_s / duration
    extrap = " (extrapolated)" if base and base.extrapolated else ""
    base_ratio = f"{base.total_s / duration:.3f}× ({base.total_s:.0f} s){extrap}" if base else "skipped"
    return [
        Row(f"submit latency p50 ({CLIP_SECONDS} s clip, n={len(ours.submit_ms)})", _ms(submit_p50)),
        Row(
            f"submit latency p95 ({CLIP_SECONDS} s clip, n={len(ours.submit_ms)})",
            _ms(submit_p95),
            target=f"≤ {TARGET_SUBMIT_P95_MS:.0f} ms",
            met=_met(submit_p95, TARGET_SUBMIT_P95_MS),
        ),
        Row(
            f"upload of the {duration / 60:.0f}-min file in parts ({ours.upload_bytes / MB:.0f} MB)", _s(ours.upload_s)
        ),
        *(
            [
                Row(
                    "first transcript_ready (from submit returned)",
                    _s(ours.first_transcript_s),
                    "—",
                    "≤ 3 s",
                    _met(ours.first_transcript_s, 3.0),
                )
            ]
            if ours.first_transcript_s is not None
            else []
        ),
        Row(
            "first chunk_ready (from submit returned)",
            _s(ours.first_chunk_s),
            _s(base.first_chunk_s) + " (from start)" if base else "skipped",
            f"≤ {TARGET_FIRST_CHUNK_S:.0f} s",
            _met(ours.first_chunk_s, TARGET_FIRST_CHUNK_S),
        ),
        Row(
            "total time ÷ video duration",
            "n/a" if ratio is None else f"{ratio:.3f}× ({ours.complete_s:.1f} s)",
            base_ratio,
            f"≤ {target}×",
            _met(ratio, target),
        ),
        Row(f"event latency p50 row→WebSocket (n={len(ours.event_latency_ms)})", _ms(event_p50), "nothing streamed"),
        Row(
            f"event latency p95 row→WebSocket (n={len(ours.event_latency_ms)})",
            _ms(event_p95),
            "nothing streamed",
            f"≤ {TARGET_EVENT_P95_MS:.0f} ms (embedded)",
            _met(event_p95, TARGET_EVENT_P95_MS),
        ),
        Row(
            "worker peak RSS, largest Python process",
            f"{ours.worker_python_peak_mb:.0f} MB",
            "—",
            f"≤ {TARGET_WORKER_RSS_MB:.0f} MB",
            _met(ours.worker_python_peak_mb, TARGET_WORKER_RSS_MB),
        ),
        Row(
            "worker peak RSS, largest ffmpeg child",
            f"{ours.worker_media_peak_mb:.0f} MB",
            f"{base.ffmpeg_peak_mb:.0f} MB" if base else "skipped",
        ),
        Row("worker peak RSS, whole qcluster tree", f"{ours.worker_tree_peak_mb:.0f} MB"),
        Row("worker peak PSS, largest Python process", f"{ours.worker_python_pss_peak_mb:.0f} MB"),
        Row("worker peak PSS, whole qcluster tree", f"{ours.worker_tree_pss_peak_mb:.0f} MB"),
        Row("web (daphne) peak RSS, main run incl. upload", f"{ours.web_peak_mb:.0f} MB"),
        Row(
            "chunks (video stream-copied)",
            f"{ours.chunks} ({ours.copied_chunks})",
            f"{base.chunks_total} (0)" if base else "skipped",
        ),
    ]


def today_rows(ours: OursResult, today: OursResult, *, duration: float, transcribe: bool) -> list[Row]:
    """Ours next to today's model path (--today), measured in the same run."""
    worker_target = TARGET_WORKER_ASR_MB if transcribe else TARGET_WORKER_PLAIN_MB
    ratio_target = TARGET_TOTAL_RATIO_ASR_16 if transcribe else TARGET_TOTAL_RATIO

    def ratio(r: OursResult) -> float | None:
        return None if r.complete_s is None else r.complete_s / duration

    def mb(value: float) -> str:
        return f"{value:.0f} MB"

    rows = []
    if transcribe:
        rows += [
            Row(
                "first transcript_ready (from submit returned)",
                _s(ours.first_transcript_s),
                _s(today.first_transcript_s),
                f"≤ {TARGET_FIRST_WORDS_S} s",
                _met(ours.first_transcript_s, TARGET_FIRST_WORDS_S),
            ),
            Row(
                "first chunk with commentary (from submit returned)",
                _s(ours.first_commentary_s),
                _s(today.first_commentary_s),
                f"≤ {TARGET_FIRST_COMMENTARY_S:.0f} s",
                _met(ours.first_commentary_s, TARGET_FIRST_COMMENTARY_S),
            ),
        ]
    ours_ratio, today_ratio = ratio(ours), ratio(today)
    rows += [
        Row("first chunk_ready (from submit returned)", _s(ours.first_chunk_s), _s(today.first_chunk_s)),
        Row(
            "total time ÷ video duration",
            "n/a" if ours_ratio is None else f"{ours_ratio:.3f}× ({ours.complete_s:.1f} s)",
            "n/a" if today_ratio is None else f"{today_ratio:.3f}× ({today.complete_s:.1f} s)",
            f"≤ {ratio_target}×",
            _met(ours_ratio, ratio_target),
        ),
        Row(
            "largest worker process, idle (before the main run), RSS / PSS",
            f"{mb(ours.worker_python_idle_mb)} / {mb(ours.worker_python_idle_pss_mb)}",
            f"{mb(today.worker_python_idle_mb)} / {mb(today.worker_python_idle_pss_mb)}",
        ),
        Row(
            "largest worker process, main run" + (" (transcribing)" if transcribe else " (no ASR)") + ", RSS",
            mb(ours.worker_python_peak_mb),
            mb(today.worker_python_peak_mb),
            f"≤ {worker_target:.0f} MB",
            _met(ours.worker_python_peak_mb, worker_target),
        ),
        Row(
            "largest worker process, main run, PSS",
            mb(ours.worker_python_pss_peak_mb),
            mb(today.worker_python_pss_peak_mb),
            f"≤ {worker_target:.0f} MB",
            _met(ours.worker_python_pss_peak_mb, worker_target),
        ),
        Row(
            "qcluster tree incl. children, main run, RSS summed",
            mb(ours.worker_tree_peak_mb),
            mb(today.worker_tree_peak_mb),
            f"≤ {TARGET_TREE_MB:.0f} MB",
            _met(ours.worker_tree_peak_mb, TARGET_TREE_MB),
        ),
        Row(
            "qcluster tree incl. children, main run, PSS summed",
            mb(ours.worker_tree_pss_peak_mb),
            mb(today.worker_tree_pss_peak_mb),
            f"≤ {TARGET_TREE_MB:.0f} MB",
            _met(ours.worker_tree_pss_peak_mb, TARGET_TREE_MB),
        ),
    ]
    return rows


def table(rows: list[Row], *, baseline: str = "baseline") -> str:
    header = Row("metric", "ours", baseline, "target", "met?")
    cells = [[r.metric, r.ours, r.baseline, r.target, r.met] for r in [header, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = [" | ".join(c[i].ljust(widths[i]) for i in range(5)).rstrip() for c in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def breakdown(ours: OursResult, base: BaselineResult | None) -> str:
    """Where the time went, for reading the table (not part of the targets)."""
    lines = ["Where ours spent its time (PerformanceMetrics rows of the main task):"]
    if ours.queue_wait_s is not None:
        lines.append(f"  task opened → claimed (includes the upload itself): {ours.queue_wait_s * 1000:.0f} ms")
    for op, values in sorted(ours.operations_ms.items()):
        if len(values) == 1:
            lines.append(f"  {op}: {values[0]:.0f} ms")
        else:
            lines.append(
                f"  {op}: n={len(values)}, p50 {percentile(values, 50):.0f} ms, "
                f"max {max(values):.0f} ms, sum {sum(values) / 1000:.1f} s"
            )
    if ours.first_chunk_server_s is not None:
        lines.append(f"  first chunk_ready row written {ours.first_chunk_server_s:.2f} s after submit returned")
    lines.append(
        f"  events: {len(ours.event_latency_ms)} streamed, {ours.replayed_events} replayed on connect "
        f"(written before the socket opened; left out of the latency); RSS samples: {ours.rss_samples}"
    )
    lines.append(f"  machine: {ours.machine_busy:.0%} of all cores busy during the main run (anyone's work)")
    if base:
        per = ", ".join(f"{s:.1f}" for s in base.chunk_s)
        lines.append(f"Baseline: probe {base.probe_s * 1000:.0f} ms; chunk encodes (s): {per}")
        lines.append(
            f"  machine: {base.machine_busy:.0%} of all cores busy during the baseline (x264 uses all of them)"
        )
        if base.extrapolated:
            lines.append(
                f"  total extrapolated from {base.chunks_encoded} of {base.chunks_total} chunks "
                "(--quick); run without --quick to measure all of them"
            )
    return "\n".join(lines)


# --- Set-up ---------------------------------------------------------------------------------------------


def configure_environment(run_dir: Path) -> str:
    """Point Django at the bench's own folder before it is imported; returns a description of the mode.

    REPURPOSER_VAR_DIR keeps the secret key and the SQLite file out of the developer's var/. The children
    LiveStack starts inherit this environment, so they use the same folder.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "repurposer.settings"
    os.environ["REPURPOSER_VAR_DIR"] = str(run_dir / "var")
    os.environ["MEDIA_ROOT"] = str(run_dir / "media")
    # The speech models joined and hashed once, kept between runs: a run's first job must not pay the join
    # (~145 MB written and hashed) that an installed server did once, while a later stack finds it done.
    os.environ.setdefault("MODEL_CACHE_DIR", str(CACHE / "models"))
    database = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    db_text = f"DATABASE_URL={redact(database)}" if database else f"embedded SQLite ({run_dir / 'var'})"
    layer = f"REDIS_URL={redact(redis)} (channels-redis wake-ups)" if redis else "in-process tailer (embedded)"
    return f"{db_text}; events: {layer}"


def prepare_database() -> None:
    """Create the schema (fresh SQLite, or an existing server database) and warn about leftover work."""
    from django.core.management import call_command
    from django.db import OperationalError, connection
    from django_q.models import OrmQ

    from jobs.models import ProcessingTask

    try:
        call_command("migrate", interactive=False, verbosity=0)
    except OperationalError as exc:
        db = connection.settings_dict
        where = f"-h {db.get('HOST') or '127.0.0.1'} -p {db.get('PORT') or 5432} -U {db.get('USER') or 'postgres'}"
        raise SystemExit(
            f"Could not use the database {db.get('NAME')!r}: {exc}\nIf it does not exist, create it:\n"
            f"  psql {where} -c 'create database {db.get('NAME')}'"
        ) from None
    leftover = ProcessingTask.objects.filter(status__in=BUSY).count() + OrmQ.objects.count()
    if leftover:
        print(
            f"WARNING: the database has {leftover} queued/running tasks or queue entries from earlier runs; "
            "they will compete with the benchmark.",
            flush=True,
        )


def check_redis() -> None:
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 — any failure means the configured service is unusable
        raise SystemExit(f"REDIS_URL={redact(settings.REDIS_URL)} is configured but unreachable: {exc}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backbone", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"baseline on the first {QUICK_BASELINE_CHUNKS} chunks only, total extrapolated",
    )
    parser.add_argument("--submits", type=int, default=20, help="uploads measured for submit latency (20)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline entirely")
    parser.add_argument("--keep", action="store_true", help="keep the run's media folder (uploads, chunks)")
    parser.add_argument(
        "--transcribe",
        action="store_true",
        help="the main run also makes the transcript (offline speech recognition) and speaks commentary",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=0,
        help=f"use only the first SECONDS of the {VIDEO_SECONDS // 60}-minute video (stream-copied)",
    )
    parser.add_argument(
        "--language",
        default="",
        help="with --transcribe: the spoken language as the upload page would give it (e.g. en); detected otherwise",
    )
    parser.add_argument(
        "--today",
        action="store_true",
        help="run the main run again with today's model path (preloaded models, base for the first words)",
    )
    return parser.parse_args(argv)


def run_and_report(
    name: str,
    title: str,
    run_dir: Path,
    mode: str,
    argv: list[str] | None,
    work: Callable[[], dict],
    table: Callable[[dict, str], str],
) -> int:
    """The common frame of a queue benchmark: the load and busy processes before, `work()`, its `table`, the load
    after, and the figures kept as bench-results/<name>-<backend>.json. 1 when the run failed (said on stderr)."""
    from django.conf import settings

    backend = "postgresql" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "sqlite"
    load = os.getloadavg()
    others = busy_processes()
    print(f"Mode: {mode}\nLoad at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores", flush=True)
    try:
        res = work()
    except (RuntimeError, TimeoutError) as exc:
        print(f"\nThe run failed: {exc}\nLogs: {run_dir}/", file=sys.stderr)
        return 1
    load_end = os.getloadavg()
    print(f"\n{title} — {mode}\n{table(res, backend)}")
    print(f"Load at start {load[0]:.2f}, at the end {load_end[0]:.2f} (1-min averages; the machine is shared).")
    if others:
        print("Busy at the start:\n  " + "\n  ".join(others))
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{name}", *(argv or sys.argv[1:])]),
        "mode": mode,
        "load": {"start": load, "end": load_end, "busy_at_start": others},
        **res,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-{backend}.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


def start_run() -> tuple[Path, str]:
    """A fresh run folder, the environment pointed at it, Django set up, the database ready; the mode line."""
    run_dir = RESULTS / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    mode = configure_environment(run_dir)

    import django

    django.setup()
    # The settings log at INFO; httpx would print a line per request in the middle of the figures.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    check_redis()
    prepare_database()
    return run_dir, mode


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir, mode = start_run()

    source = source_video(CACHE)
    clip = small_clip(CACHE, source)
    if args.seconds and args.seconds < VIDEO_SECONDS:
        source = head_of(CACHE, source, args.seconds)
    from media_pipeline.probe import Limits, probe

    info = probe(source, limits=Limits())
    video = (
        f"{info.duration:.0f} s {info.width}×{info.height} {info.fps:.0f} fps {info.video_codec}/{info.audio_codec}, "
        f"{info.size / MB:.0f} MB, keyframe every 2 s, espeak-ng speech"
    )
    print(f"Mode: {mode}\nVideo: {video}\nMachine: {os.cpu_count()} cores, {platform.platform()}", flush=True)
    # Figures from a shared 2-core machine are only comparable when nothing else is running: say so loudly.
    others = busy_processes()
    load = os.getloadavg()
    if others:
        print(
            f"WARNING: other processes are using the CPU (load {load[0]:.1f}); every figure will be slower:\n  "
            + "\n  ".join(others),
            flush=True,
        )
    print(flush=True)

    try:
        ours = run_ours(
            source, clip, submits=args.submits, run_dir=run_dir, transcribe=args.transcribe, language=args.language
        )
    except (RuntimeError, TimeoutError) as exc:
        print(f"\nThe run failed: {exc}\nLogs: {run_dir}/", file=sys.stderr)
        return 1
    today = None
    if args.today:
        print("\nToday's model path, for comparison (a second stack)…", flush=True)
        try:
            today = run_ours(source, clip, submits=1, run_dir=run_dir, transcribe=args.transcribe, extra_env=TODAY_ENV)
        except (RuntimeError, TimeoutError) as exc:
            print(f"\nThe run with today's model path failed: {exc}\nLogs: {run_dir}/", file=sys.stderr)
            return 1
    base = None
    if not args.no_baseline:
        base = run_baseline(source, limit=QUICK_BASELINE_CHUNKS if args.quick else None, workdir=run_dir / "baseline")

    rows = build_rows(ours, base, duration=info.duration)
    print()
    print(f"Backbone benchmark — {mode}")
    print(f"Video: {video}")
    print(table(rows))
    print()
    print(breakdown(ours, base))
    if today is not None:
        end_load = os.getloadavg()
        print(f"\nOurs next to today's model path (same run; load average at the end {end_load[0]:.1f}):")
        print(table(today_rows(ours, today, duration=info.duration, transcribe=args.transcribe), baseline="today"))
    if args.transcribe:
        print("\n" + timeline_table({"ours": ours, **({"today": today} if today is not None else {})}))
    if others:
        print(f"WARNING: the machine was busy with other work at the start (load {load[0]:.1f}); see above.")
    missed = [r.metric for r in rows if r.met.startswith("NO")]
    print(f"\nTargets missed: {', '.join(missed)}" if missed else "\nAll targets met.")

    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.backbone", *(argv or sys.argv[1:])]),
        "mode": mode,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_at_start": load,
            "busy_at_start": others,
        },
        "video": {"description": video, "path": str(source), "duration_s": info.duration, "bytes": info.size},
        "rows": [asdict(r) for r in rows],
        "ours": asdict(ours),
        "baseline": asdict(base) if base else None,
        "today": asdict(today) if today else None,
    }
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    out = RESULTS / "backbone.json"
    out.write_text(text)
    (run_dir / "backbone.json").write_text(text)  # the latest is overwritten; each run keeps its own copy
    print(f"Written: {out} and {run_dir / 'backbone.json'}")
    if not args.keep:
        shutil.rmtree(run_dir / "media", ignore_errors=True)
        shutil.rmtree(run_dir / "baseline", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
