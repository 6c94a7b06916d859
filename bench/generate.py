"""Make-a-video benchmark: a batch of video generations against the loopback Veo-shaped provider, three at a
time vs one at a time in the same run, and the time from submit to the first playable scene of a script job
with offline visuals (title cards), in-process on the real job code.

    .venv/bin/python -m bench.generate [--prompts 5] [--generation 20] [--concurrency 3]

What runs
  * The provider: tests.fake_veo.FakeVeo on loopback, every operation done `--generation` seconds after its
    submit (the seed's "realistic delay"), then a real 4 s H.264 clip streamed. The client is the app's:
    media_pipeline.video_gen.video_provider("veo").build(…), polling with its growing intervals, the
    download streamed and probed. `--prompts` generations, `--concurrency` at a time (a thread pool, as
    `manage.py generate --batch --concurrency N` keeps N in flight), vs the same prompts one after another.
    Ideal with 5 prompts, 3 at a time: ceil(5/3) = 2 rounds of 20 s, 0.4 × the sequential 100 s.
  * First scene: a ~35 s script submitted with services.submit_generate and run by jobs.engine.run_task in
    a thread (espeak-ng voices, title cards with motion, burned captions, CHUNK_CONCURRENCY renders), timed
    from the submit to the first chunk_ready row (what the watch page starts playing), and to the end;
    `--runs` times (the median is the figure). The process is warmed first with jobs.generate.warm, as a
    qcluster worker warms itself when it starts (jobs.apps); the cold figure is reported on its own row.

Output: one table (metric | ours | baseline | target | met?) and bench-results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.backbone import RESULTS, Row, busy_processes, configure_environment, prepare_database, table

PROMPTS = [
    "A lighthouse on a cliff at dusk, waves breaking below",
    "Morning fog lifting over a pine forest, slow aerial shot",
    "A barista pouring latte art in a sunlit café",
    "Time-lapse of a city intersection at night, light trails",
    "A red fox walking through fresh snow, close-up",
]
SCRIPT = (
    "Every river starts small. A spring in the hills, a patch of melting snow. "
    "Water always runs downhill, and it always finds the softest path. "
    "Over thousands of years that path becomes a valley. "
    "Stones carried by floods grind the bed a little deeper every spring. "
    "What looks permanent is only slow. The canyon you visit today will be deeper for your grandchildren. "
    "So next time you stand by a stream, listen. You are hearing a landscape being made."
)
TARGET_RATIO = 0.4
TARGET_FIRST_SCENE = 3.0


def generate_batch(fake, prompts: list[str], *, concurrency: int, out_dir: Path) -> tuple[float, list[float]]:
    from media_pipeline.providers.http import RetryPolicy
    from media_pipeline.providers.registry import Calls
    from media_pipeline.video_gen import video_provider

    conf = {
        "VEO_BASE_URL": fake.base_url,
        "GEMINI_API_KEY": fake.api_key,
        "VEO_MODEL": "veo-bench",
        "VIDEO_GEN_TIMEOUT": 600.0,
        "VIDEO_GEN_MAX_BYTES": 300 * 2**20,
        "PROVIDER_TIMEOUT": 60.0,
    }
    veo = video_provider("veo").build(conf, Calls(retry=RetryPolicy(max_retries=3)))
    started = time.monotonic()

    def one(index: int) -> float:
        veo.generate(prompts[index], out=out_dir / f"clip-{concurrency}-{index}.mp4", aspect="9:16", seconds=8)
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        done = list(pool.map(one, range(len(prompts))))
    return time.monotonic() - started, done


def first_scene(run_dir: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from jobs import services
    from jobs.engine import run_task
    from jobs.models import ProgressUpdate
    from media_pipeline.generate.request import GenerateRequest

    owner, _ = get_user_model().objects.get_or_create(username="bench")
    submitted = time.monotonic()
    task = services.submit_generate(owner=owner, request=GenerateRequest(script=SCRIPT, aspect="9:16"))
    outcome: list[str] = []

    def work() -> None:
        try:
            outcome.append(run_task(str(task.pk)))
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    first = None
    while thread.is_alive() or first is None:
        if first is None and ProgressUpdate.objects.filter(task=task, type="chunk_ready").exists():
            first = time.monotonic() - submitted
        if not thread.is_alive() and first is None:
            break
        time.sleep(0.05)
    thread.join()
    total = time.monotonic() - submitted
    task.refresh_from_db()
    return {
        "status": outcome[0] if outcome else "none",
        "first_scene_s": first,
        "total_s": total,
        "scenes": task.result.get("chunks"),
        "video_s": task.result.get("duration"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--generation", type=float, default=20.0, help="seconds each fake generation takes")
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 s generations instead of 20 s")
    parser.add_argument("--runs", type=int, default=5, help="script jobs timed to their first scene (median)")
    parser.add_argument("--no-batch", action="store_true", help="only the first-scene runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.generation = min(args.generation, 5.0)
    load = os.getloadavg()
    others = busy_processes()
    if others:
        print(f"WARNING: other processes are using the CPU (load {load[0]:.1f}):\n  " + "\n  ".join(others))
    prompts = (PROMPTS * math.ceil(args.prompts / len(PROMPTS)))[: args.prompts]
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        run_dir = Path(tmp)
        mode = configure_environment(run_dir)
        import django

        django.setup()
        prepare_database()
        from tests.fake_veo import FakeVeo

        together = alone = ratio = 0.0
        together_done, alone_done, polls = [0.0], [0.0], 0
        if not args.no_batch:
            with FakeVeo(generation_seconds=args.generation) as fake:
                print(
                    f"{len(prompts)} generations of {args.generation:g} s each, {args.concurrency} at a time…",
                    flush=True,
                )
                together, together_done = generate_batch(fake, prompts, concurrency=args.concurrency, out_dir=run_dir)
                print("…and one at a time", flush=True)
                alone, alone_done = generate_batch(fake, prompts, concurrency=1, out_dir=run_dir)
                polls = sum(op.polls for op in fake.operations.values())
            ratio = together / alone
        print(f"A script job with offline visuals, submit → first playable scene, cold then {args.runs}×…", flush=True)
        cold = first_scene(run_dir)
        from jobs.generate import warm

        warm()
        runs = [first_scene(run_dir) for _ in range(max(1, args.runs))]
        loads = os.getloadavg()
    ideal = math.ceil(len(prompts) / args.concurrency) / len(prompts)
    firsts = [r["first_scene_s"] for r in runs]
    first = statistics.median(firsts) if all(f is not None for f in firsts) else None
    scene = runs[len(runs) // 2]
    totals = [r["total_s"] for r in runs]
    rows = []
    if not args.no_batch:
        rows += [
            Row(f"batch of {len(prompts)} generations", f"{together:.1f} s ({args.concurrency} at a time)",
                f"{alone:.1f} s (one at a time)"),
            Row("batch ÷ sequential", f"{ratio:.2f}", "1.00", f"≤ {TARGET_RATIO} (ideal {ideal:.2f})",
                "yes" if ratio <= TARGET_RATIO else "no"),
            Row("first clip ready", f"{together_done[0]:.1f} s", f"{alone_done[0]:.1f} s"),
        ]  # fmt: skip
    rows += [
        Row(f"submit → first playable scene (offline visuals), median of {len(runs)}",
            f"{first:.2f} s" if first else "never", "—", f"≤ {TARGET_FIRST_SCENE:g} s",
            "yes" if first and first <= TARGET_FIRST_SCENE else "no"),
        Row("  … every run", ", ".join(f"{f:.2f}" if f else "never" for f in firsts)),
        Row("  … a cold process (first job, no warm-up)",
            f"{cold['first_scene_s']:.2f} s" if cold["first_scene_s"] else "never"),
        Row("submit → whole video, median", f"{statistics.median(totals):.1f} s for {scene['video_s']} s of video, "
            f"{scene['scenes']} scenes"),
    ]  # fmt: skip
    print()
    print(f"Make-a-video benchmark — {mode}; {polls} polls in all")
    print(table(rows))
    print(
        f"Load average: {load[0]:.2f} at the start, {loads[0]:.2f} at the end ({os.cpu_count()} cores)"
        + ("; other processes were busy, so the figures are pessimistic" if others else "")
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "generate.json"
    out.write_text(
        json.dumps(
            {
                "prompts": len(prompts),
                "generation_seconds": args.generation,
                "concurrency": args.concurrency,
                "batch_seconds": together,
                "sequential_seconds": alone,
                "ratio": ratio,
                "ideal_ratio": ideal,
                "first_scene": scene,
                "first_scene_runs": firsts,
                "first_scene_median": first,
                "first_scene_cold": cold["first_scene_s"],
                "load": [load[0], loads[0]],
            },
            indent=2,
        )
    )
    print(f"Written: {out}")
    return 0 if all(r["status"] == "succeeded" for r in [cold, *runs]) else 1


if __name__ == "__main__":
    sys.exit(main())
