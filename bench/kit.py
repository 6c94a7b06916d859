"""The publishing kit's image work on a 10-minute 1280×720 video (bench.backbone's cached source) and a
10-topic transcript: the whole kit after the transcript, the way the kit worker does it now (the frame sheet
grabbed and scored beside the transcript) next to the old way (frames grabbed and scored after it), in the same
run; per image p50/p95 for frame grabs, thumbnail and cover renders (wall and CPU), carousel slides and reel
posters, the image pool against one at a time (and against a process pool), and the cache-hit cost.

Wall times on this shared 2-core machine move with everyone else's load; the CPU figures are what a render or a
kit costs, and the load average is printed beside them.

    .venv/bin/python -m bench.kit            # prints the table, writes bench-results/kit.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from bench.backbone import CACHE, RESULTS, Row, busy_processes, percentile, source_video, table

TARGET_IMAGE_P95_MS = 100.0
TARGET_KIT_S = 3.0


def cpu_now() -> float:
    """CPU seconds of this process (all threads) and of its finished children (ffmpeg)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def reel_video(cache: Path) -> Path:
    """A 20-second 1080×1920 reel at 29.97 fps (B-frames, a keyframe every 2 s) for the poster grabs."""
    from media_pipeline.process import ffmpeg_head, run

    out = cache / "reel-20s-1080x1920-2997-v1.mp4"
    if not out.exists():
        tmp = out.with_suffix(".part.mp4")
        argv = [*ffmpeg_head("ffmpeg"), "-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=30000/1001", "-t", "20"]
        argv += ["-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", str(tmp)]
        run(argv, timeout=600)
        tmp.rename(out)
    return out


def _render_one(args: tuple) -> float:
    """One render in a worker process (for the process-pool comparison); returns its seconds."""
    from media_pipeline.kit.thumbnails import render
    from media_pipeline.render.fonts import default_fonts

    spec = args[0]
    started = time.perf_counter()
    render(spec, default_fonts())
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)

    from media_pipeline.kit.chapters import find_chapters
    from media_pipeline.kit.frames import grab_frames, rank, score_frame, sheet_times, spread
    from media_pipeline.kit.publish import publish_text
    from media_pipeline.kit.thumbnails import LAYOUTS, ImageSpec, render, short_texts
    from media_pipeline.process import ffmpeg_head, run
    from media_pipeline.render.carousel import Slide, render_carousel
    from media_pipeline.render.fonts import default_fonts
    from media_pipeline.render.images import ImagePool, Rendered
    from media_pipeline.render.reel import Poster, poster_jpeg
    from tests.test_ideas import TEN_MINUTES, ten_minute_transcript

    busy = busy_processes()
    if busy:
        print("Note: other processes are busy; figures may be slower than on a quiet machine:", *busy, sep="\n  ")
    src = source_video(CACHE)
    segments = ten_minute_transcript()
    fonts = default_fonts()
    work = Path(tempfile.mkdtemp(prefix="bench-kit-"))
    rows: list[Row] = []
    out: dict = {}

    def sheet(frames: Path) -> tuple[list, float, float]:
        """The frame sheet as the kit worker makes it: (scores, grab seconds, score seconds)."""
        a = time.perf_counter()
        grabbed = grab_frames(src, sheet_times(TEN_MINUTES), out_dir=frames)
        b = time.perf_counter()
        scores = [score_frame(p, t) for t, p in grabbed.items()]
        return scores, b - a, time.perf_counter() - b

    def after_transcript(scores: list, folder: Path) -> tuple[list, list, list]:
        """Chapters, titles, ranking and the six images (4 thumbnails, 2 covers) in the pool."""
        chapters = find_chapters(segments, duration=TEN_MINUTES)
        text = publish_text(segments, chapters, duration=TEN_MINUTES)
        order = spread(rank(scores, cuts=[]), chapters)
        texts = short_texts(chapters, text.titles)
        frame = {s.t: s.path for s in scores}
        focus = {s.t: s.focus for s in scores}

        def spec(t: float, text: str, layout: str, kind: str) -> ImageSpec:
            return ImageSpec(frame[t], t, "bench", text, layout, kind, focus=focus[t])

        specs = [spec(order[i], texts[i % len(texts)], LAYOUTS[i % 3], "thumb") for i in range(4)]
        specs += [spec(order[0], texts[0], "band", k) for k in ("square", "vertical")]
        with ImagePool(args.workers) as pool:
            futures = [pool.submit(s, lambda s: render(s, fonts), lambda k: folder / f"{k}.jpg") for s in specs]
            return chapters, order, [f.result() for f in futures]

    try:
        # 1. The whole kit after the transcript, cold (no frame, no image on disk yet), both ways in this run.
        #    Old way: frames grabbed and scored once the chapters are known, then the images.
        c0, started = cpu_now(), time.perf_counter()
        scores, old_grab, old_score = sheet(work / "old-frames")
        chapters, order, rendered = after_transcript(scores, work / "old-kit")
        t_old, cpu_old = time.perf_counter() - started, cpu_now() - c0
        #    New way: the sheet is made as soon as the video is known, beside the transcript (timed on its own);
        #    after the transcript only chapters, titles, ranking and rendering remain.
        c0, started = cpu_now(), time.perf_counter()
        scores, t_grab, t_score = sheet(work / "frames")
        t_sheet, cpu_sheet = time.perf_counter() - started, cpu_now() - c0
        c0, started = cpu_now(), time.perf_counter()
        chapters, order, rendered = after_transcript(scores, work / "kit")
        t_kit, cpu_kit = time.perf_counter() - started, cpu_now() - c0
        grabbed = {s.t: s.path for s in scores}
        texts = short_texts(chapters, publish_text(segments, chapters, duration=TEN_MINUTES).titles)
        out["kit"] = {
            "chapters": len(chapters),
            "frames": len(scores),
            "faces": sum(1 for s in scores if s.face),
            "images": len(rendered),
            "after_transcript_s": t_kit,
            "after_transcript_cpu_s": cpu_kit,
            "sheet_s": t_sheet,
            "sheet_cpu_s": cpu_sheet,
            "old_after_transcript_s": t_old,
            "old_after_transcript_cpu_s": cpu_old,
        }
        per_grab_batched = t_grab / max(len(grabbed), 1)
        times = list(grabbed)

        # 2. Frame grabs: one batched ffmpeg run (above) against one ffmpeg run per frame.
        singles = []
        for t in times:
            o = work / "single" / f"{t}.jpg"
            o.parent.mkdir(parents=True, exist_ok=True)
            argv = [*ffmpeg_head("ffmpeg"), "-ss", f"{t:.3f}", "-i", str(src), "-frames:v", "1", "-q:v", "2", str(o)]
            singles.append(run(argv, timeout=120).seconds)

        # 3. Renders: one at a time, then the same images in the thread pool and in a process pool.
        many = [
            ImageSpec(
                grabbed[order[i % len(order)]],
                order[i % len(order)],
                "bench",
                texts[i % len(texts)],
                LAYOUTS[i % 3],
                kind,
            )
            for i in range(6)
            for kind in ("thumb", "square", "vertical")
        ]
        alone: dict[str, list[float]] = {"thumb": [], "square": [], "vertical": []}
        alone_cpu: dict[str, list[float]] = {"thumb": [], "square": [], "vertical": []}
        t0 = time.perf_counter()
        for s in many:
            a, c = time.perf_counter(), time.thread_time()
            render(s, fonts)
            alone[s.kind].append(time.perf_counter() - a)
            alone_cpu[s.kind].append(time.thread_time() - c)
        t_alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ImagePool(args.workers) as pool:
            pooled = [pool.submit(s, lambda s: render(s, fonts), lambda k: work / "pool" / f"{k}.jpg") for s in many]
            pool_results = [f.result() for f in pooled]
        t_pool = time.perf_counter() - t0
        with ProcessPoolExecutor(max_workers=args.workers) as procs:
            list(procs.map(_render_one, [(many[0],)] * args.workers))  # start-up and imports, not counted
            t0 = time.perf_counter()
            list(procs.map(_render_one, [(s,) for s in many]))
            t_procs = time.perf_counter() - t0

        # 4. Cache hits: the same inputs again.
        hits = []
        with ImagePool(args.workers) as pool:
            for s in many:
                a = time.perf_counter()
                r = pool.submit(s, lambda s: render(s, fonts), lambda k: work / "pool" / f"{k}.jpg").result()
                hits.append(time.perf_counter() - a)
                assert r.cached

        # 5. Carousel slides (cover + 7, three carousels): one at a time, then in the pool, then the same again
        #    (cache hits). Each slide is drawn and saved as PNG, the format the carousel download promises.
        carousels = [
            [Slide(i, f"{texts[c % len(texts)]} step {i}", f"{segments[10 * c + i].text} " * 2) for i in range(1, 8)]
            for c in range(3)
        ]
        slide_alone: list[Rendered] = []
        t0 = time.perf_counter()
        for c, slides in enumerate(carousels):
            slide_alone += render_carousel(
                slides, title=texts[0], out_dir=work / "slides-1" / str(c), fonts=fonts
            ).rendered
        t_slides_alone = time.perf_counter() - t0
        slide_pool: list[Rendered] = []
        t0 = time.perf_counter()
        with ImagePool(args.workers) as pool, ThreadPoolExecutor(len(carousels)) as callers:
            # Three pieces rendering at once, as three carousels of one job would queue in the worker's pool.
            def carousel(c: int) -> list[Rendered]:
                out_dir, cache_dir = work / "slides-p" / str(c), work / "slide-cache"
                kw = {"pool": pool, "cache_dir": cache_dir}
                return render_carousel(carousels[c], title=texts[0], out_dir=out_dir, fonts=fonts, **kw).rendered

            for done in callers.map(carousel, range(len(carousels))):
                slide_pool += done
        t_slides_pool = time.perf_counter() - t0
        slide_hits = []
        with ImagePool(args.workers) as pool:
            for c, slides in enumerate(carousels):
                a = time.perf_counter()
                again = render_carousel(
                    slides,
                    title=texts[0],
                    out_dir=work / "slides-again" / str(c),
                    fonts=fonts,
                    pool=pool,
                    cache_dir=work / "slide-cache",
                )
                assert all(r.cached for r in again.rendered)
                slide_hits.append((time.perf_counter() - a) / len(again.rendered))

        # 6. Reel posters: a frame of a 1080×1920 reel, one ffmpeg run each; one at a time, in the pool, cached.
        reel = reel_video(CACHE)
        poster_times = [0.5 + 1.5 * i for i in range(12)]
        poster_alone = []
        c0 = cpu_now()
        for at in poster_times:
            a = time.perf_counter()
            poster_jpeg(Poster(reel, at))
            poster_alone.append(time.perf_counter() - a)
        t_posters_alone = sum(poster_alone)
        poster_cpu = (cpu_now() - c0) / len(poster_times)  # ffmpeg's CPU (a child process) per poster
        t0 = time.perf_counter()
        with ImagePool(args.workers) as pool:
            futures = [
                pool.submit(Poster(reel, at), poster_jpeg, lambda k: work / "posters" / f"{k}.jpg")
                for at in poster_times
            ]
            poster_pool = [f.result() for f in futures]
            t_posters_pool = time.perf_counter() - t0
            poster_hits = []
            for at in poster_times:
                a = time.perf_counter()
                hit = pool.submit(Poster(reel, at), poster_jpeg, lambda k: work / "posters" / f"{k}.jpg").result()
                poster_hits.append(time.perf_counter() - a)
                assert hit.cached

        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v * 1000:.0f} ms"

        def met(v: float | None, limit: float) -> str:
            return "n/a" if v is None else ("yes" if v <= limit else "no")

        rows.append(
            Row(
                "frame grab per frame (one batched keyframe run | one frame-accurate run each), p50",
                ms(per_grab_batched),
                ms(percentile(singles, 50)),
            )
        )
        rows.append(Row("frame grab, one run each, p95", "—", ms(percentile(singles, 95))))
        for kind in ("thumb", "square", "vertical"):
            p95 = percentile(alone_cpu[kind], 95)
            rows.append(
                Row(
                    f"{kind} render p50 / p95, one at a time: CPU (wall)",
                    f"{ms(percentile(alone_cpu[kind], 50))} / {ms(p95)} "
                    f"({ms(percentile(alone[kind], 50))} / {ms(percentile(alone[kind], 95))})",
                    "—",
                    f"p95 < {TARGET_IMAGE_P95_MS:.0f} ms",
                    met(p95 and p95 * 1000, TARGET_IMAGE_P95_MS),
                )
            )
        pool_secs = [r.seconds for r in pool_results]
        pool_cpu = [r.cpu_seconds for r in pool_results]
        rows.append(
            Row(
                f"render in the thread pool ({args.workers}), per image p50 / p95: CPU (wall)",
                f"{ms(percentile(pool_cpu, 50))} / {ms(percentile(pool_cpu, 95))} "
                f"({ms(percentile(pool_secs, 50))} / {ms(percentile(pool_secs, 95))})",
            )
        )
        rows.append(
            Row(f"{len(many)} images: thread pool | one at a time (wall)", f"{t_pool:.2f} s", f"{t_alone:.2f} s")
        )
        rows.append(
            Row(
                f"{len(many)} images: process pool ({args.workers}) (wall, warm)",
                f"{t_procs:.2f} s",
                f"{t_alone:.2f} s",
            )
        )
        rows.append(Row("cache hit p50 / p95", f"{ms(percentile(hits, 50))} / {ms(percentile(hits, 95))}"))

        def p(values: list[float]) -> str:
            return f"{ms(percentile(values, 50))} / {ms(percentile(values, 95))}"

        slide_p95 = percentile([r.cpu_seconds for r in slide_alone], 95)
        rows.append(
            Row(
                f"slide (1080×1350 PNG) p50 / p95, one at a time: CPU (wall) | {len(slide_alone)} slides",
                f"{p([r.cpu_seconds for r in slide_alone])} ({p([r.seconds for r in slide_alone])})",
                f"{t_slides_alone:.2f} s",
                f"p95 < {TARGET_IMAGE_P95_MS:.0f} ms",
                met(slide_p95 and slide_p95 * 1000, TARGET_IMAGE_P95_MS),
            )
        )
        rows.append(
            Row(
                f"slide in the pool ({args.workers}), 3 carousels at once: CPU (wall) | all",
                f"{p([r.cpu_seconds for r in slide_pool])} ({p([r.seconds for r in slide_pool])})",
                f"{t_slides_pool:.2f} s",
            )
        )
        rows.append(Row("slide cache hit (whole carousel again, per slide) p50 / p95", p(slide_hits)))
        rows.append(
            Row(
                f"reel poster (1080×1920 frame grab) p50 / p95: one at a time | pool ({args.workers}) (wall)",
                p(poster_alone),
                p([r.seconds for r in poster_pool]),
            )
        )
        rows.append(
            Row(
                f"{len(poster_times)} posters: pool | one at a time (wall); CPU per poster; cache hit p50 / p95",
                f"{t_posters_pool:.2f} s | {t_posters_alone:.2f} s",
                f"{ms(poster_cpu)}; {p(poster_hits)}",
            )
        )
        rows.append(
            Row(
                f"kit ready after transcript ({len(chapters)} chapters, {len(grabbed)} frames, "
                f"{len(rendered)} images): sheet beside the transcript | old way, grabbed after it (wall)",
                f"{t_kit:.2f} s",
                f"{t_old:.2f} s",
                f"≤ {TARGET_KIT_S:.0f} s",
                met(t_kit, TARGET_KIT_S),
            )
        )
        rows.append(Row("  the same, CPU (ffmpeg included)", f"{cpu_kit:.2f} s", f"{cpu_old:.2f} s"))
        rows.append(
            Row(
                "  frame sheet beside the transcript: wall (CPU) | of which grab | score + faces",
                f"{t_sheet:.2f} s ({cpu_sheet:.2f} s) | {t_grab:.2f} s | {t_score:.2f} s",
                f"old run: {old_grab:.2f} s | {old_score:.2f} s",
            )
        )
        out.update(
            {
                "frame_grab": {
                    "batched_per_frame_s": per_grab_batched,
                    "single_p50_s": percentile(singles, 50),
                    "single_p95_s": percentile(singles, 95),
                    "frames": len(times),
                },
                "render_alone_s": alone,
                "render_alone_cpu_s": alone_cpu,
                "render_pool_cpu_s": pool_cpu,
                "render_pool_s": pool_secs,
                "wall": {"pool_s": t_pool, "alone_s": t_alone, "processes_s": t_procs},
                "cache_hit_s": hits,
                "slides": {
                    "alone_s": [r.seconds for r in slide_alone],
                    "alone_cpu_s": [r.cpu_seconds for r in slide_alone],
                    "pool_s": [r.seconds for r in slide_pool],
                    "pool_cpu_s": [r.cpu_seconds for r in slide_pool],
                    "wall_alone_s": t_slides_alone,
                    "wall_pool_s": t_slides_pool,
                    "cache_hit_per_slide_s": slide_hits,
                },
                "posters": {
                    "alone_s": poster_alone,
                    "pool_s": [r.seconds for r in poster_pool],
                    "wall_alone_s": t_posters_alone,
                    "wall_pool_s": t_posters_pool,
                    "cache_hit_s": poster_hits,
                    "cpu_per_poster_s": poster_cpu,
                },
                "workers": args.workers,
            }
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    out["load_average"] = load
    print(f"Load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores")
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kit.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
