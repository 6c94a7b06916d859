"""Frame-exact benchmark: a long marked video through the real queue, next to the old way of cutting it.

    .venv/bin/python -m bench.frames [--minutes 60] [--interval 30]

What runs
  * A source of `--minutes` (60 by default) is generated once and cached in bench-results/cache/: 192×108
    at 29.97 fps, x264 with B-frames (bframes=3, pyramid), keyframes at irregular 2–5 s steps, AAC
    44.1 kHz stereo, a white flash and a 1 kHz beep together every 1.3 s (tests.media.marked), so frames
    and A/V sync can be measured anywhere in it.
  * Ours: tests.live.LiveStack starts a real daphne and qcluster (2 workers); the file is uploaded in
    parts as the page does, with `--interval` s intervals and nothing else (no transcript, commentary or
    ideas), and the task's final.mp4 is measured.
  * Baseline ("today's approach" before this change): the same plan, each chunk cut by its own ffmpeg
    `-ss … -t …` stream copy with `-output_ts_offset`, joined by the concat demuxer — the commands the app
    ran until now, kept here verbatim (`old_chunk_argv`, `old_concat_argv`).
  Both finals are compared with the source by bench.avsync: repeated and missing frames, duration error,
  the largest A/V offset anywhere, and at every join.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.avsync import Report, compare
from bench.backbone import CACHE, PeakRss, bench_user, start_run, upload_and_follow

MB = 2**20


def source(minutes: float) -> Path:
    from tests import media

    path = CACHE / f"frames-{minutes:g}min.mp4"
    if path.exists():
        return path
    seconds = minutes * 60
    rng = random.Random(7)
    keys, t = [0.0], 0.0
    while t < seconds:
        t += rng.uniform(2.0, 5.0)
        keys.append(round(t, 3))
    tmp = path.with_suffix(".tmp.mp4")
    print(f"Generating a {minutes:g}-minute marked source (cached in {CACHE})…", flush=True)
    media.marked(
        tmp,
        seconds=seconds,
        rate="30000/1001",
        size="192x108",
        audio_rate=44100,
        codec=[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-x264-params",
            "bframes=3:b-pyramid=normal:scenecut=0:keyint=300",
            "-force_key_frames",
            ",".join(f"{k:g}" for k in keys if k < seconds),
        ],
    )
    tmp.rename(path)
    return path


def old_chunk_argv(src: Path, start: float, duration: float, out: Path) -> list[str]:
    """The copy-path command of media_pipeline/render/chunk.py before this change (one run per chunk)."""
    nudge = 0.001
    seek = start + nudge
    return [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-y",
        "-ss",
        f"{seek:.3f}",
        "-i",
        f"file:{src}",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0",
        "-t",
        f"{duration - 2 * nudge:.3f}",
        "-f",
        "mpegts",
        "-output_ts_offset",
        f"{seek:.3f}",
        "-vcodec",
        "copy",
        "-acodec",
        "copy",
        str(out),
    ]


def old_concat_argv(listing: Path, out: Path) -> list[str]:
    return [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-y",
        "-f",
        "concat",
        "-safe",
        "1",
        "-protocol_whitelist",
        "file,pipe",
        "-i",
        str(listing),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out),
    ]


def run_baseline(src: Path, plan: list[dict], folder: Path) -> tuple[Path, float]:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names = []
    for iv in plan:
        out = folder / f"{iv['index']:05d}.ts"
        subprocess.run(old_chunk_argv(src, iv["start"], iv["end"] - iv["start"], out), check=True, timeout=600)
        names.append(out.name)
    listing = folder / "list.txt"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{n}'\n" for n in names))
    final = folder / "final.mp4"
    subprocess.run(old_concat_argv(listing, final), check=True, timeout=1800)
    return final, time.perf_counter() - started


def run_ours(src: Path, *, interval: int) -> tuple[Path, list[dict], float]:
    from django.conf import settings
    from django.db import close_old_connections

    from jobs.models import ProcessingTask
    from tests.live import Client, LiveStack, database_url_for

    stack = LiveStack(
        database_url=database_url_for(settings.DATABASES["default"]), media_root=Path(settings.MEDIA_ROOT), workers=2
    )
    try:
        stack.start()
        client = Client(stack.base_url).login(*bench_user())
        sampler = PeakRss({"queue": stack.worker_pids})
        import bench.backbone as backbone

        backbone.INTERVAL = interval
        run = upload_and_follow(client, stack, src, sampler=sampler, transcribe=False)
        close_old_connections()
        task = ProcessingTask.objects.get(pk=run.task_id)
        plan = (task.result or {}).get("plan", [])
        return task.files.final, plan, run.events[-1]["received"] - run.returned
    finally:
        stack.stop()


def row(name: str, ours: str, base: str, target: str) -> str:
    return f"{name:<34} {ours:>16} {base:>16}   {target}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.frames", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--interval", type=int, default=30)
    args = parser.parse_args(argv)
    run_dir, mode = start_run()
    src = source(args.minutes)
    print(f"Mode: {mode}\nSource: {src.name}, {src.stat().st_size / MB:.0f} MB", flush=True)
    final, plan, total_s = run_ours(src, interval=args.interval)
    print(f"Ours: {len(plan)} chunks, complete {total_s:.1f} s after upload; measuring…", flush=True)
    joins = [iv["start"] for iv in plan[1:]]
    ours: Report = compare(final, src, joins=joins)
    base_final, base_s = run_baseline(src, plan, run_dir / "baseline")
    print(f"Baseline: cut and joined in {base_s:.1f} s; measuring…", flush=True)
    base: Report = compare(base_final, src, joins=joins)

    def worst_join(r: Report) -> float:
        return max((abs(s) for _, s in r.joins if s is not None), default=0.0)

    frame_ms = ours.frame_duration * 1000
    print()
    print(
        f"Frame-exact benchmark — {args.minutes:g} min source, {args.interval} s intervals, {len(plan)} chunks; {mode}"
    )
    print(row("metric", "ours", "today's approach", "target"))
    print(
        row(
            "frames (source " + str(ours.source_frames) + ")",
            str(ours.final_frames),
            str(base.final_frames),
            "= source",
        )
    )
    print(row("repeated frames", str(ours.repeated), str(base.repeated), "0"))
    print(row("missing frames", str(ours.missing), str(base.missing), "0"))
    print(row("decoded video identical", str(ours.identical), str(base.identical), "True"))
    print(
        row(
            "duration error",
            f"{ours.duration_error * 1000:+.1f} ms",
            f"{base.duration_error * 1000:+.1f} ms",
            f"|x| ≤ {frame_ms:.1f} ms",
        )
    )
    print(
        row(
            "largest A/V offset change",
            f"{ours.max_offset_shift * 1000:.1f} ms",
            f"{base.max_offset_shift * 1000:.1f} ms",
            f"≤ {min(frame_ms, 23.2):.1f} ms",
        )
    )
    print(
        row(
            "largest A/V offset at a join",
            f"{worst_join(ours) * 1000:.1f} ms",
            f"{worst_join(base) * 1000:.1f} ms",
            f"≤ {min(frame_ms, 23.2):.1f} ms",
        )
    )
    print(row("audio gaps/overlaps", str(ours.audio_gaps), str(base.audio_gaps), "0"))
    print(row("markers measured", str(ours.markers), str(base.markers), ""))
    shutil.rmtree(run_dir / "media", ignore_errors=True)
    shutil.rmtree(run_dir / "baseline", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
