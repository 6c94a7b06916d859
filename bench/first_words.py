"""First words benchmark (issue 16): how soon a talk's first words and first spoken commentary arrive with
offline speech recognition, next to today's model path, in one run.

    .venv/bin/python -m bench.first_words [--seconds 180] [--submits 1]

Three runs of bench.backbone's main run (a real daphne + qcluster with 2 workers, the upload page's part
upload, the task's WebSocket followed to `complete`), on the backbone's espeak-ng talk with commentary on
and no subtitles, each on a fresh stack:
  * ours, language detected: no language given, the file has no language tag, so base detects it on the
    first 8 s before tiny.en makes the first words;
  * ours, language given: the page's "Spoken language" set to English, so tiny.en starts at once;
  * today: the models preloaded in every worker, Whisper base for the first words too (bench.backbone's
    TODAY_ENV).
Each figure is from the last part's answer (the file is on the server and the task queued). Printed: the
first `transcript_ready`, the first chunk with commentary, total / duration, the largest worker's RSS and the
qcluster tree's PSS, then each run's timeline of its first seconds (bench.backbone.early_timeline).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import backbone
from .backbone import OursResult


def prepare_models() -> None:
    """The models' one-time preparation (the base model joined, the int8 copies made) as an installed server
    has done it once, so no measured run pays it: the app's own engine factories resolve (and prepare) them."""
    from jobs.transcribe import asr_engine, fast_engine

    asr_engine()
    fast_engine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_words", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=180, help="the first SECONDS of the backbone's video (180)")
    parser.add_argument("--submits", type=int, default=1, help="submit-latency uploads before each run (1)")
    args = parser.parse_args(argv)
    run_dir, mode = backbone.start_run()
    source = backbone.source_video(backbone.CACHE)
    clip = backbone.small_clip(backbone.CACHE, source)
    if args.seconds and args.seconds < backbone.VIDEO_SECONDS:
        source = backbone.head_of(backbone.CACHE, source, args.seconds)
    from media_pipeline.probe import Limits, probe

    duration = probe(source, limits=Limits()).duration
    prepare_models()
    print(f"Mode: {mode}\nVideo: {duration:.0f} s of the backbone's talk; load {os.getloadavg()[0]:.1f}", flush=True)
    runs: dict[str, OursResult] = {}
    plans = {
        "ours, detected": {"language": ""},
        "ours, given (en)": {"language": "en"},
        "today": {"extra_env": backbone.TODAY_ENV},
    }
    for name, how in plans.items():
        print(f"\n{name}…", flush=True)
        try:
            runs[name] = backbone.run_ours(
                source,
                clip,
                submits=args.submits,
                run_dir=run_dir,
                transcribe=True,
                **how,  # type: ignore[arg-type]
            )
        except (RuntimeError, TimeoutError) as exc:
            print(f"\nThe run {name!r} failed: {exc}\nLogs: {run_dir}/", file=sys.stderr)
            return 1

    def s(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} s"

    rows = [
        ("first transcript_ready", lambda r: s(r.first_transcript_s)),
        ("first chunk with commentary", lambda r: s(r.first_commentary_s)),
        ("total / duration", lambda r: "—" if r.complete_s is None else f"{r.complete_s / duration:.3f}×"),
        ("largest worker RSS", lambda r: f"{r.worker_python_peak_mb:.0f} MB"),
        ("largest worker PSS", lambda r: f"{r.worker_python_pss_peak_mb:.0f} MB"),
        ("qcluster tree PSS", lambda r: f"{r.worker_tree_pss_peak_mb:.0f} MB"),
    ]
    names = list(runs)
    print(f"\n{'metric':30}" + "".join(f"{n:>20}" for n in names))
    for label, cell in rows:
        print(f"{label:30}" + "".join(f"{cell(runs[n]):>20}" for n in names))
    print(f"(targets: first words ≤ 2.5 s, first commentary ≤ 4 s; load at the end {os.getloadavg()[0]:.1f})")
    print("\n" + backbone.timeline_table(runs))
    idle = ", ".join(f"{n} {runs[n].worker_python_idle_mb:.0f} MB" for n in names)
    print(f"\nLargest worker idle, before each main run: {idle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
