"""ASR benchmark: Whisper base (faster-whisper, int8) vs pocketsphinx on real recorded speech.

    .venv/bin/python -m bench.asr [--minutes 4] [--interval 30] [--engines whisper,pocketsphinx]

What runs
  * Speech: the five LibriVox clips the pocketsphinx sdist ships (tests/asr_data.py fetches them once),
    0.7 s of silence after each, repeated to about `--minutes` of audio, stored as FLAC in Matroska under
    bench-results/cache/ (lossless, so the engines hear exactly the recorded samples).
  * Engines: Whisper base int8 as the app runs it (beam 5, from its int8 copy), the same loaded from the float16
    file (as before the copies), the same with beam 1 (greedy), Whisper tiny.en
    (the first words of an English video; beam 5 and beam 1), pocketsphinx.
  * Each engine transcribes it the way a worker will: cut into `--interval` s intervals, each read with
    `read_pcm` (ffmpeg → 16 kHz mono) and passed to `engine.transcribe`, one CPU thread per process.
      - 1 process: all intervals in turn.
      - 2 processes in parallel (the worker pool on this 2-core box): each takes the next interval from a
        shared queue until none is left; wall time from the moment both have loaded their model.
      - Whisper only: 1 process with 2 CTranslate2 threads, the alternative to 2 processes.
    CPU seconds per wall second show whether the processes really ran at once (2.0 = both cores busy).
    Model loading is timed apart (first call per process) and not counted in × real time.
  * WER (jiwer, after lower-casing, punctuation to spaces and Mr/Mrs/Dr spelled out): over the long audio
    (intervals joined; words cut at an interval edge count as errors, as they will in the app) and over
    the five clips one by one (the figure tests/test_asr.py asserts for Whisper).

× real time = seconds of audio ÷ wall seconds; for 2 processes, both the total and per process.
Output: one table on stdout and bench-results/asr.json. Figures drop when other work uses the CPU: how
busy the CPU was just before and after the run is printed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from media_pipeline.transcript.asr import SAMPLE_RATE
from tests import asr_data

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
CACHE = RESULTS / "cache"
MODEL_CACHE = ROOT / "var" / "models" / "whisper-base"  # what the app uses (settings-derived var/models)
GAP_SECONDS = 0.7
# "whisper-greedy" is the same model with beam_size=1: faster, for comparison with the default beam of 5.
# "tiny.en" is the bundled Whisper tiny.en that makes the first words of an English video (beam 5, as the app).
# "whisper-float16" loads the float16 file as before the int8 copies (media_pipeline/transcript/whisper_int8.py).
ENGINES = ("whisper", "whisper-float16", "whisper-greedy", "tiny.en", "tiny.en-greedy", "pocketsphinx")


# --- Audio ----------------------------------------------------------------------------------------------


def long_speech(clips: list[asr_data.Clip], minutes: float) -> tuple[Path, list[str], float]:
    """The clips with a pause after each, repeated to ~`minutes`: (file, reference texts in order, seconds)."""
    gap = np.zeros(round(GAP_SECONDS * SAMPLE_RATE), np.int16)
    one_pass = [(np.round(c.pcm() * 32768).astype(np.int16), c.text) for c in clips]
    pass_seconds = sum((pcm.size + gap.size) / SAMPLE_RATE for pcm, _ in one_pass)
    repeats = max(1, round(minutes * 60 / pass_seconds))
    out = CACHE / f"asr-librivox-x{repeats}.mka"
    texts = [text for _ in range(repeats) for _, text in one_pass]
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        wav = out.with_suffix(".part.wav")
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            for _ in range(repeats):
                for pcm, _ in one_pass:
                    w.writeframes(pcm.tobytes() + gap.tobytes())
        tmp = out.with_suffix(".part.mka")
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "flac", str(tmp)],
            check=True,
            timeout=300,
        )
        wav.unlink()
        tmp.replace(out)
    return out, texts, repeats * pass_seconds


def cpu_busy(seconds: float = 2.0) -> float:
    """Share of all cores busy over `seconds` (from /proc/stat). The load average is no guide here: it
    counts tasks waiting on I/O, and this VM shows ~1 with idle cores."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


def intervals(total: float, length: float) -> list[tuple[float, float]]:
    starts = np.arange(0.0, total, length)
    return [(float(s), float(min(length, total - s))) for s in starts if total - s > 0.05]


# --- Work done in each child process --------------------------------------------------------------------


def _engine(name: str, threads: int) -> Any:
    # Imported here: each child loads its own model, as a worker process does.
    if name.startswith("tiny.en"):
        from media_pipeline.transcript import whisper_model
        from media_pipeline.transcript.whisper import WhisperEngine

        greedy = name.endswith("greedy")
        fast = whisper_model.fast_model(MODEL_CACHE.parent / whisper_model.FAST_NAME, int8=True)
        engine = WhisperEngine(fast, cpu_threads=threads, beam_size=1 if greedy else 5)
        if greedy:
            engine.label += ", beam 1"
        return engine
    if name.startswith("whisper"):
        from media_pipeline.transcript import whisper_model
        from media_pipeline.transcript.whisper import WhisperEngine

        beam_size = 1 if name == "whisper-greedy" else 5
        model = whisper_model.bundled_model(MODEL_CACHE, int8=name != "whisper-float16")
        engine = WhisperEngine(model, cpu_threads=threads, beam_size=beam_size)
        if beam_size == 1:
            engine.label += ", beam 1"
        if name == "whisper-float16":
            engine.label += ", float16 file"
        return engine
    from media_pipeline.transcript.sphinx import PocketsphinxEngine

    return PocketsphinxEngine()


def _warm(engine: Any) -> float:
    """Load the model (the first call does) on a second of quiet; returns the seconds it took."""
    started = time.perf_counter()
    engine.transcribe(np.zeros(SAMPLE_RATE, np.float32), 0.0)
    return time.perf_counter() - started


def _worker(name: str, path: str, todo: Any, ready: Any, results: Any, clips: bool, threads: int) -> None:
    """Take intervals from `todo` until its end marker; put one result dict on `results`."""
    from media_pipeline.transcript.asr import read_pcm

    engine = _engine(name, threads)
    load = _warm(engine)
    ready.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    texts: dict[int, str] = {}
    read_s = asr_s = audio_s = 0.0
    # Blocking get with one None per process at the end: get_nowait() raises Empty while the other
    # process holds the queue's read lock, which would end a worker early.
    while (item := todo.get(timeout=60)) is not None:
        index, start, length = item
        t0 = time.perf_counter()
        pcm = read_pcm(Path(path), start, length)
        t1 = time.perf_counter()
        segments = engine.transcribe(pcm, start)
        t2 = time.perf_counter()
        read_s, asr_s, audio_s = read_s + t1 - t0, asr_s + t2 - t1, audio_s + pcm.size / SAMPLE_RATE
        texts[index] = " ".join(s.text for s in segments)
    ended, cpu_s = time.perf_counter(), time.process_time() - cpu_started
    clip_texts: list[str] = []
    clip_audio = clip_s = 0.0
    if clips:
        for clip in asr_data.librivox_clips():
            pcm = clip.pcm()
            t0 = time.perf_counter()
            clip_texts.append(" ".join(s.text for s in engine.transcribe(pcm, 0.0)))
            clip_s += time.perf_counter() - t0
            clip_audio += pcm.size / SAMPLE_RATE
    results.put(
        {
            "pid": os.getpid(),
            "label": engine.label,
            "load_s": load,
            "started": started,
            "ended": ended,
            "read_s": read_s,
            "asr_s": asr_s,
            "cpu_s": cpu_s,
            "audio_s": audio_s,
            "texts": texts,
            "clip_texts": clip_texts,
            "clip_audio_s": clip_audio,
            "clip_asr_s": clip_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def run(
    name: str, path: Path, cuts: list[tuple[float, float]], processes: int, *, clips: bool = False, threads: int = 1
) -> list[dict]:
    """Start `processes` spawned workers on a shared queue of intervals; their results, one per process."""
    ctx = mp.get_context("spawn")
    todo, results = ctx.Queue(), ctx.Queue()
    for index, (start, length) in enumerate(cuts):
        todo.put((index, start, length))
    for _ in range(processes):
        todo.put(None)
    ready = ctx.Barrier(processes)
    workers = [
        ctx.Process(target=_worker, args=(name, str(path), todo, ready, results, clips, threads))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    out = [results.get(timeout=3600) for _ in workers]
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"A {name} worker exited with {w.exitcode}.")
    return out


# --- Report ---------------------------------------------------------------------------------------------


def measure(name: str, path: Path, texts: list[str], cuts: list[tuple[float, float]], clips) -> dict:
    print(f"{name}: 1 process, 1 thread…", flush=True)
    (one,) = run(name, path, cuts, 1, clips=True)
    print(f"{name}: 2 processes in parallel, 1 thread each…", flush=True)
    two = run(name, path, cuts, 2)
    threaded = None
    if name.startswith(("whisper", "tiny.en")):
        print(f"{name}: 1 process, 2 threads…", flush=True)
        (threaded,) = run(name, path, cuts, 1, threads=2)
    audio = one["audio_s"]
    one_wall = one["ended"] - one["started"]
    two_wall = max(r["ended"] for r in two) - min(r["started"] for r in two)
    hypothesis = " ".join(one["texts"][i] for i in range(len(cuts)))
    two_texts = {k: v for r in two for k, v in r["texts"].items()}
    two_hypothesis = " ".join(two_texts[i] for i in range(len(cuts)))
    return {
        "engine": name,
        "label": one["label"],
        "audio_s": audio,
        "intervals": len(cuts),
        "load_s": one["load_s"],
        "x_rt_1proc": audio / one_wall,
        "x_rt_1proc_asr_only": audio / one["asr_s"],
        "cpu_per_wall_1proc": one["cpu_s"] / one_wall,
        "read_pcm_s_per_interval": one["read_s"] / len(cuts),
        "x_rt_2proc_total": audio / two_wall,
        "x_rt_2proc_per_process": audio / two_wall / 2,
        "cpu_per_wall_2proc": sum(r["cpu_s"] for r in two) / two_wall,
        "x_rt_1proc_2threads": audio / (threaded["ended"] - threaded["started"]) if threaded else None,
        "wer_long": asr_data.wer([" ".join(texts)], [hypothesis]),
        "wer_long_2proc": asr_data.wer([" ".join(texts)], [two_hypothesis]),
        "wer_clips": asr_data.wer([c.text for c in clips], one["clip_texts"]),
        "x_rt_clips": one["clip_audio_s"] / one["clip_asr_s"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in [one, *two]),
    }


ROWS = [
    ("model load (first call, s)", "load_s", "{:.1f}"),
    ("× real time, 1 process, 1 thread", "x_rt_1proc", "{:.1f}×"),
    ("  of which ASR only", "x_rt_1proc_asr_only", "{:.1f}×"),
    ("read_pcm per interval (s)", "read_pcm_s_per_interval", "{:.3f}"),
    ("× real time, 2 processes (total)", "x_rt_2proc_total", "{:.1f}×"),
    ("  per process", "x_rt_2proc_per_process", "{:.1f}×"),
    ("CPU s per wall s, 1 process / 2 processes", ("cpu_per_wall_1proc", "cpu_per_wall_2proc"), "{:.2f} / {:.2f}"),
    ("× real time, 1 process, 2 threads", "x_rt_1proc_2threads", "{:.1f}×"),
    ("WER, long audio in intervals", "wer_long", "{:.1%}"),
    ("WER, long audio, 2 processes", "wer_long_2proc", "{:.1%}"),
    ("WER, 5 clips one by one", "wer_clips", "{:.1%}"),
    ("× real time on the short clips", "x_rt_clips", "{:.1f}×"),
    ("peak RSS per process (MB)", "peak_rss_mb", "{:.0f}"),
]


def _cell(report: dict, key: str | tuple[str, ...], fmt: str) -> str:
    values = [report[k] for k in (key if isinstance(key, tuple) else (key,))]
    return "–" if None in values else fmt.format(*values)


def table(reports: list[dict]) -> str:
    rows = [["metric", *[r["label"] for r in reports]]]
    rows += [[label, *[_cell(r, key, fmt) for r in reports]] for label, key, fmt in ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.asr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="length of the speech to transcribe")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds per interval, as the job uses")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from: {','.join(ENGINES)}")
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")

    try:
        clips = asr_data.librivox_clips()
    except asr_data.DataUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    path, texts, seconds = long_speech(clips, args.minutes)
    cuts = intervals(seconds, args.interval)
    busy = cpu_busy()
    print(f"Machine: {os.cpu_count()} cores, {platform.platform()}; other work used {busy:.0%} of the CPU just before")
    print(
        f"Speech: {path.name}, {seconds / 60:.1f} min of LibriVox ({len(texts)} utterances), "
        f"{len(cuts)} intervals of {args.interval:.0f} s\n",
        flush=True,
    )

    reports = [measure(name, path, texts, cuts, clips) for name in engines]
    end_busy = cpu_busy()
    print()
    print(table(reports))
    print(f"\nOther work used {busy:.0%} of the CPU before the run and {end_busy:.0%} after it.")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "asr.json"
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "busy_before": busy,
            "busy_after": end_busy,
        },
        "speech": {"file": path.name, "seconds": seconds, "intervals": len(cuts), "interval_s": args.interval},
        "engines": reports,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
