"""Chunk thumbnails through the worker's image pool (urgent, ahead of kit work) against the old way, one ffmpeg
run beside each chunk's own, in the same run, on the 10-minute 1280×720 source (bench.backbone's, copied
chunks of 30 s, CHUNK_CONCURRENCY chunks at a time as the job renders them).

Per chunk: the time until the chunk *and* its thumbnail are written (what the watch page waits for before a
chunk_ready), p50/p95, and the thumbnail's own ffmpeg time; the whole cut's wall and CPU (ffmpeg included).
The pool is measured twice: idle, and with a kit's worth of images (thumbnail candidates and covers) queued
in it first, which the chunk thumbnails, submitted urgent, go ahead of.

    .venv/bin/python -m bench.chunk_thumb     # prints the table, writes bench-results/chunk_thumb.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bench.backbone import CACHE, RESULTS, Row, busy_processes, percentile, source_video, table
from bench.kit import cpu_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=12, help="how many 30-s chunks of the source to cut")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="image pool threads")
    args = parser.parse_args(argv)

    from media_pipeline.kit.frames import grab_frames, sheet_times
    from media_pipeline.kit.thumbnails import LAYOUTS, ImageSpec, render
    from media_pipeline.plan import Interval
    from media_pipeline.probe import Limits, probe
    from media_pipeline.render.chunk import render_chunk, thumbnail_jpeg
    from media_pipeline.render.fonts import default_fonts
    from media_pipeline.render.images import ImagePool, Rendered

    busy = busy_processes()
    if busy:
        print("Note: other processes are busy; figures may be slower than on a quiet machine:", *busy, sep="\n  ")
    src = source_video(CACHE)
    info = probe(src, limits=Limits())
    plan = [Interval(i, i * 30.0, min((i + 1) * 30.0, info.duration), True) for i in range(args.chunks)]
    fonts = default_fonts()
    work = Path(tempfile.mkdtemp(prefix="bench-chunk-thumb-"))
    out: dict = {"chunks": len(plan), "concurrency": args.concurrency, "workers": args.workers}

    def beside(folder: Path) -> tuple[list[float], list[float], float, float]:
        """The old way: render_chunk makes the thumbnail in a thread of its own beside the chunk's ffmpeg."""
        folder.mkdir(parents=True)

        def one(iv: Interval) -> tuple[float, float]:
            a = time.perf_counter()
            result = render_chunk(
                src, info, iv, out=folder / f"{iv.index:05d}.ts", thumbnail=folder / f"{iv.index}.jpg"
            )
            assert result.thumbnail is not None and result.thumbnail.stat().st_size > 1000
            return time.perf_counter() - a, 0.0

        return cut(one)

    def pooled(folder: Path, pool: ImagePool) -> tuple[list[float], list[float], float, float]:
        """The new way (jobs/chunks.py): the thumbnail submitted urgent to the pool as the chunk's ffmpeg starts,
        the chunk ready when both are written."""
        folder.mkdir(parents=True)

        def one(iv: Interval) -> tuple[float, float]:
            a = time.perf_counter()

            class Thumb:
                def key(self) -> str:
                    return f"{folder}|{iv.index}"

            thumb = pool.submit(
                Thumb(), lambda _: thumbnail_jpeg(src, at=iv.start), lambda _k: folder / f"{iv.index}.jpg", urgent=True
            )
            render_chunk(src, info, iv, out=folder / f"{iv.index:05d}.ts", thumbnail=None)
            drawn = thumb.result()
            return time.perf_counter() - a, drawn.seconds

        return cut(one)

    def cut(one) -> tuple[list[float], list[float], float, float]:  # type: ignore[no-untyped-def]
        c0, t0 = cpu_now(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as chunks:
            done = list(chunks.map(one, plan))
        return [d[0] for d in done], [d[1] for d in done], time.perf_counter() - t0, cpu_now() - c0

    def kit_backlog(pool: ImagePool, folder: Path) -> list[Future[Rendered]]:
        """A kit's images queued in the pool before the chunks start (6 thumbnails, 2 covers, twice over)."""
        frames = grab_frames(src, sheet_times(info.duration)[:8], out_dir=folder / "frames")
        specs = [
            ImageSpec(p, t, f"bench-{n}", "Chunk thumbnails go first", LAYOUTS[i % 3], kind)
            for n in range(2)
            for i, (t, p) in enumerate(frames.items())
            for kind in ("thumb",)
        ]
        return [pool.submit(s, lambda s: render(s, fonts), lambda k: folder / "kit" / f"{k}.jpg") for s in specs]

    try:
        rows: list[Row] = []
        # The order alternates so neither way always runs on the warmer page cache.
        results: dict[str, tuple[list[float], list[float], float, float]] = {}
        results["beside"] = beside(work / "beside-1")
        with ImagePool(args.workers) as pool:
            results["pool"] = pooled(work / "pool-1", pool)
        with ImagePool(args.workers) as pool:
            backlog = kit_backlog(pool, work / "backlog")
            results["pool_busy"] = pooled(work / "pool-busy", pool)
            kit_done = [f.result() for f in backlog]
        results["beside_2"] = beside(work / "beside-2")

        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v * 1000:.0f} ms"

        def p(values: list[float]) -> str:
            return f"{ms(percentile(values, 50))} / {ms(percentile(values, 95))}"

        old = results["beside"][0] + results["beside_2"][0]
        old_wall = (results["beside"][2] + results["beside_2"][2]) / 2
        old_cpu = (results["beside"][3] + results["beside_2"][3]) / 2
        for label, key in (("pool, idle", "pool"), (f"pool, {len(kit_done)} kit images queued first", "pool_busy")):
            ready, thumb, wall, cpu = results[key]
            rows.append(Row(f"chunk + thumbnail ready p50 / p95 ({label} | beside)", p(ready), p(old)))
            rows.append(Row(f"  thumbnail render in the pool p50 / p95 ({label})", p(thumb)))
            rows.append(
                Row(
                    f"  {len(plan)} chunks: wall, CPU incl. ffmpeg ({label} | beside, mean of 2)",
                    f"{wall:.2f} s, {cpu:.2f} s",
                    f"{old_wall:.2f} s, {old_cpu:.2f} s",
                )
            )
        out.update({k: {"ready_s": v[0], "thumb_s": v[1], "wall_s": v[2], "cpu_s": v[3]} for k, v in results.items()})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    out["load_average"] = load
    print(f"Load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores")
    print(table(rows, baseline="beside the chunk run"))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chunk_thumb.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
