"""Content benchmark: ideas + pieces against an OpenAI-compatible model with 0.5 s latency per call, written
in parallel vs one at a time in the same run, and the offline provider on the same transcript.

    .venv/bin/python -m bench.content [--repeats 3] [--latency 0.5] [--count 5]

What runs
  * The model: tests.fake_providers.FakeProviders on loopback, every call held `--latency` seconds, answered
    by the well-behaved fake model of tests/test_ideas_llm.py (FakeWriter: valid idea and piece JSON read
    from our own prompts). The client is the app's: media_pipeline.llm.chat_provider("openai").build(…).
  * The work: media_pipeline.ideas.generate_ideas_and_pieces on a realistic 10-minute transcript
    (tests/test_ideas.py ten_minute_transcript: ten topics of a minute, ~3 words/s in 4 s captions), the
    app's default style preset (educator), `--count` ideas, no cache. One call writes the ideas, then one
    call per piece: with concurrency=5 the pieces are written side by side, with concurrency=1 in turn.
    Ideal at 0.5 s: sequential (1 + 5) × 0.5 = 3.0 s, parallel (1 + 1) × 0.5 = 1.0 s, ratio 0.33.
  * Sequential and parallel alternate `--repeats` times after one unmeasured warm-up run (no latency);
    the table shows the medians, the JSON every run. Calls made and the most in flight are read at the
    server.
  * Offline: the same call with model=None (extractive ideas, templated pieces), median of 5 runs after
    one warm-up.

Output: one table (metric | ours | baseline | target | met?) and bench-results/content.json; ours is the
parallel run, the baseline the sequential one. Exit status 1 only when a run made no valid pieces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from bench.backbone import RESULTS, Row, busy_processes, table

TARGET_REQUIRED = 0.7  # seed 000's own test: parallel < 0.7 × sequential
TARGET_AIM = 0.35  # with 5 ideas
OFFLINE_RUNS = 5
STYLE = "educator"  # the upload form's default preset


@dataclass
class Measured:
    concurrency: int
    seconds: float
    calls: int
    max_in_flight: int
    pieces_ok: int
    pieces: int
    provider: str
    call_seconds: list[float] = field(default_factory=list)  # each call as the server saw it


def run_once(fake, *, concurrency: int, count: int, segments: list, duration: float) -> Measured:
    from media_pipeline.ideas import PRESETS, generate_ideas_and_pieces
    from media_pipeline.llm import chat_provider
    from media_pipeline.providers.http import RetryPolicy
    from media_pipeline.providers.registry import Calls

    fake.reset()
    conf = fake.settings(LLM_MODEL="fake-model", PROVIDER_TIMEOUT=30)
    model = chat_provider("openai").build(conf, Calls(retry=RetryPolicy(max_retries=0)))
    started = time.perf_counter()
    result = generate_ideas_and_pieces(
        segments=segments,
        style=PRESETS[STYLE],
        count=count,
        duration=duration,
        model=model,
        concurrency=concurrency,
        cache=None,
    )
    seconds = time.perf_counter() - started
    calls = fake.requests_to("chat")
    if fake.errors:
        raise RuntimeError("the fake model's hook failed:\n" + "\n".join(fake.errors))
    return Measured(
        concurrency=concurrency,
        seconds=seconds,
        calls=len(calls),
        max_in_flight=fake.max_in_flight_by_route["chat"],
        pieces_ok=sum(p.ok and p.provider == "openai" for p in result.pieces),
        pieces=len(result.pieces),
        provider=result.provider,
        call_seconds=[round(r.end - r.start, 4) for r in calls],
    )


def run_offline(*, count: int, segments: list, duration: float) -> list[float]:
    from media_pipeline.ideas import PRESETS, generate_ideas_and_pieces

    times = []
    for i in range(OFFLINE_RUNS + 1):
        started = time.perf_counter()
        result = generate_ideas_and_pieces(
            segments=segments, style=PRESETS[STYLE], count=count, duration=duration, model=None, cache=None
        )
        elapsed = time.perf_counter() - started
        if not all(p.ok for p in result.pieces) or len(result.pieces) != count:
            raise RuntimeError(f"the offline provider made {len(result.pieces)} pieces, not {count} valid ones")
        if i > 0:  # the first run is a warm-up (imports, compiled patterns)
            times.append(elapsed)
    return times


def _met(value: float, limit: float) -> str:
    return "yes" if value < limit else "NO"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.content", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="sequential/parallel pairs measured (3)")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the fake model holds each call (0.5)")
    parser.add_argument("--count", type=int, default=5, help="ideas, hence pieces (5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.fake_providers import FakeProviders
    from tests.test_ideas import TEN_MINUTES, ten_minute_transcript
    from tests.test_ideas_llm import FakeWriter

    segments = ten_minute_transcript()
    words = sum(len(s.text.split()) for s in segments)
    others = busy_processes()
    load = os.getloadavg()
    print(
        f"Transcript: {TEN_MINUTES / 60:.0f} minutes, {len(segments)} segments, {words} words; style {STYLE}; "
        f"{args.count} ideas; fake model latency {args.latency} s per call",
        flush=True,
    )
    if others:
        print(f"WARNING: other processes are using the CPU (load {load[0]:.1f}):\n  " + "\n  ".join(others), flush=True)

    runs: dict[int, list[Measured]] = {1: [], 5: []}
    with FakeProviders() as fake:
        fake.chat_reply = FakeWriter()
        fake.latency = 0.0
        run_once(fake, concurrency=5, count=args.count, segments=segments, duration=TEN_MINUTES)  # warm-up
        fake.latency = args.latency
        for i in range(args.repeats):
            for concurrency in (1, 5):
                m = run_once(fake, concurrency=concurrency, count=args.count, segments=segments, duration=TEN_MINUTES)
                if m.pieces_ok != args.count:
                    print(
                        f"The model run made {m.pieces_ok} of {args.count} pieces with the model: {m}", file=sys.stderr
                    )
                    return 1
                runs[concurrency].append(m)
                print(
                    f"  run {i + 1}: concurrency {concurrency}: {m.seconds:.3f} s, {m.calls} calls, "
                    f"max {m.max_in_flight} in flight",
                    flush=True,
                )
    offline = run_offline(count=args.count, segments=segments, duration=TEN_MINUTES)
    load_after = os.getloadavg()

    seq = statistics.median(m.seconds for m in runs[1])
    par = statistics.median(m.seconds for m in runs[5])
    ratios = [p.seconds / s.seconds for s, p in zip(runs[1], runs[5], strict=True)]
    ratio = par / seq
    ideal_seq = (1 + args.count) * args.latency
    ideal_par = 2 * args.latency
    n = args.repeats
    calls = lambda c: "/".join(sorted({str(m.calls) for m in runs[c]}))  # noqa: E731
    inflight = lambda c: "/".join(sorted({str(m.max_in_flight) for m in runs[c]}))  # noqa: E731
    rows = [
        Row(
            f"ideas + {args.count} pieces, wall time (median of {n}; ours: concurrency 5, baseline: 1)",
            f"{par:.3f} s",
            f"{seq:.3f} s",
        ),
        Row(f"  same, ideal at {args.latency} s per call", f"{ideal_par:.2f} s", f"{ideal_seq:.2f} s"),
        Row(
            "parallel ÷ sequential (ratio of the medians)",
            f"{ratio:.3f}",
            "1",
            f"< {TARGET_REQUIRED} (seed test)",
            _met(ratio, TARGET_REQUIRED),
        ),
        Row(
            f"parallel ÷ sequential, aim with {args.count} ideas (worst pair of {n})",
            f"{max(ratios):.3f}",
            "1",
            f"< {TARGET_AIM}",
            _met(max(ratios), TARGET_AIM),
        ),
        Row("model calls per run (at the server)", calls(5), calls(1)),
        Row("most calls in flight at once (at the server)", inflight(5), inflight(1)),
        Row(
            f"offline provider, same transcript, {args.count} ideas + pieces (median of {OFFLINE_RUNS})",
            f"{statistics.median(offline) * 1000:.1f} ms",
        ),
    ]
    print()
    print(f"Content benchmark — fake OpenAI-compatible model at {args.latency} s per call, style {STYLE}")
    print(table(rows))
    print()
    per_call = [s for m in runs[5] + runs[1] for s in m.call_seconds]
    print(
        f"Server-side call time: min {min(per_call):.3f} s, max {max(per_call):.3f} s (latency {args.latency} s + "
        "answering); pairs (seq, par): "
        + ", ".join(f"({s.seconds:.2f}, {p.seconds:.2f})" for s, p in zip(runs[1], runs[5], strict=True))
    )
    print(f"Offline runs (ms): {', '.join(f'{t * 1000:.1f}' for t in offline)}")
    print(f"Load average: {load[0]:.2f} at the start, {load_after[0]:.2f} at the end ({os.cpu_count()} cores)")
    missed = [r.metric.strip() for r in rows if r.met.startswith("NO")]
    print(f"\nTargets missed: {', '.join(missed)}" if missed else "\nAll targets met.")

    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.content", *(argv or sys.argv[1:])]),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_at_start": load,
            "load_at_end": load_after,
            "busy_at_start": others,
        },
        "transcript": {"seconds": TEN_MINUTES, "segments": len(segments), "words": words},
        "settings": {"latency_s": args.latency, "count": args.count, "style": STYLE, "repeats": n},
        "rows": [asdict(r) for r in rows],
        "sequential": [asdict(m) for m in runs[1]],
        "parallel": [asdict(m) for m in runs[5]],
        "ratio_of_medians": ratio,
        "ratios": ratios,
        "offline_seconds": offline,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "content.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"Written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
