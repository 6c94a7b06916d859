"""Commentary benchmark: the 10-minute talk with spoken commentary through the real queue, next to the old
system's strictly sequential phases.

    .venv/bin/python -m bench.commentary [--quick] [--no-baseline] [--keep]

What runs
  * The 10-minute 1280×720 H.264/AAC talk of bench.backbone (cached in bench-results/cache/), 30 s
    intervals, commentary on (voice en-us, play-by-play, original at 20 %), content ideas off, the
    offline providers (offline commentary writer, espeak-ng voice): the app's defaults.
  * Ours: tests.live.LiveStack starts a real daphne and a real qcluster (2 workers); a client uploads the
    file in parts as the upload page does and follows the task's WebSocket until `complete`. Two runs:
      1. "events only": transcribe off, so the commentary comes from the signal events alone;
      2. "subtitles": transcribe on with an SRT sent as the upload's `subtitles` file, so the whole
         transcript exists up front. The SRT is made once (cached): the first pass of the talk's espeak-ng
         speech (bench.backbone.speech_track, which the video loops) transcribed with the app's own Whisper
         engine, cut into sentence cues by its word times and repeated at every loop of the track.
    Times run from the moment the last upload part's answer returned (the file is on the server, the task
    is queued); the upload itself is its own row. TTS speech per wall second comes from the task's "tts"
    PerformanceMetrics rows: the seconds of speech they made ÷ (a) the span from the first TTS call's start
    to the last one's end, and (b) the whole job (submit returned → `complete` received). The qcluster
    tree is sampled for peak RSS. One unmeasured warm-up job per worker comes first.
  * Baseline ("the old system"), in this process, no queue, one step at a time in strict phases: every
    interval's signal analysis + events, then every commentary text, then all the speech (espeak-ng, one
    call at a time), then every chunk rendered with its mix in turn. The same functions as ours
    (analyse_signal, events_for, offline_commentary/fit_to_budget, the app's speech engine,
    render_chunk with CommentaryMix) on the same plan (keyframe-snapped, video copied), once per run
    above with the same transcript. Its clock starts before the probe; it has no upload, queue or
    WebSocket. A chunk counts once its file exists. `--quick` runs the first few intervals of each phase
    and extrapolates the rest from their mean (said so in the table).

Output: one table (metric | ours | baseline | target | met?) on stdout and bench-results/commentary.json.
Runs in bench-results/runs/<time>/ on a fresh SQLite database (or DATABASE_URL/REDIS_URL, as
bench.backbone). Exit status 1 only when a run itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import time
import wave
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from bench.backbone import (
    CACHE,
    INTERVAL,
    MB,
    RESULTS,
    VIDEO_SECONDS,
    MachineBusy,
    PeakRss,
    Row,
    _met,
    _s,
    bench_user,
    busy_processes,
    follow,
    small_clip,
    source_video,
    speech_track,
    start_run,
    table,
    upload_and_follow,
    wait_until_idle,
)

TARGET_FIRST_COMMENTARY_S = 3.0
TARGET_TOTAL_RATIO = 0.1
QUICK_BASELINE_INTERVALS = 4
SRT_VERSION = "v1"
# A cue ends at a sentence end, or before it grows longer than this (captions are read, not listened to).
MAX_CUE_SECONDS = 7.0

# The upload form's commentary options (repurposer/forms.py JobOptionsForm); ideas are left out (= off).
COMMENTARY_FIELDS = {
    "commentary": "on",
    "voice": "en-us",
    "commentary_style": "play-by-play",
    "original_level": "20",
    "style": "educator",
    "idea_count": "5",
    "force": "on",
}
RUNS = (("events", "events only (transcribe off)"), ("subtitles", "subtitles uploaded (transcript up front)"))


# --- The subtitles ---------------------------------------------------------------------------------------


def _sentence_cues(segments: list) -> list:
    """Whisper's segments cut at every sentence end (and before MAX_CUE_SECONDS) using their word times."""
    from media_pipeline.transcript.types import Segment

    cues = []
    for seg in segments:
        words = list(seg.words)
        run: list = []
        for w in words:
            if run and w.end - run[0].start > MAX_CUE_SECONDS:
                cues.append(Segment(run[0].start, run[-1].end, " ".join(x.text for x in run), tuple(run)))
                run = []
            run.append(w)
            if w.text.rstrip("\"')").endswith((".", "?", "!")):
                cues.append(Segment(run[0].start, run[-1].end, " ".join(x.text for x in run), tuple(run)))
                run = []
        if run:
            cues.append(Segment(run[0].start, run[-1].end, " ".join(x.text for x in run), tuple(run)))
        if not words and seg.text.strip():
            cues.append(seg)
    return cues


def bench_subtitles(cache: Path, source: Path) -> tuple[Path, int]:
    """An SRT for the bench video (cached): the first pass of its speech transcribed once by the app's own
    speech recogniser, in sentence cues, repeated at every loop of the speech track. Returns (file, cues)."""
    from media_pipeline.transcript.subtitles import parse_subtitle_file, to_srt

    out = cache / f"talk-{VIDEO_SECONDS}s-subtitles-{SRT_VERSION}.srt"
    if not out.exists():
        from dataclasses import replace

        from jobs.transcribe import asr_engine
        from media_pipeline.transcript.asr import read_pcm

        with wave.open(str(speech_track(cache)), "rb") as w:
            period = w.getnframes() / w.getframerate()  # the video loops the track with exactly this period
        engine = asr_engine()
        if engine is None:
            raise SystemExit("ASR_ENGINE=off: the bench subtitles are made once with the speech recogniser.")
        print(
            f"Making the bench subtitles once: transcribing the first {period:.1f} s of speech with {engine.label}…",
            flush=True,
        )
        started = time.monotonic()
        # The video's own audio (AAC, as the workers would hear it), one pass of the looped track.
        one_pass = _sentence_cues(engine.transcribe(read_pcm(source, 0.0, period), 0.0))
        cues = []
        k = 0
        while k * period < VIDEO_SECONDS:
            shift = k * period
            for cue in one_pass:
                if cue.start + shift >= VIDEO_SECONDS:
                    break
                words = tuple(replace(w, start=w.start + shift, end=w.end + shift) for w in cue.words)
                cues.append(replace(cue, start=cue.start + shift, end=min(cue.end + shift, VIDEO_SECONDS), words=words))
            k += 1
        tmp = out.with_suffix(".part.srt")
        tmp.write_text(to_srt(cues), encoding="utf-8")
        tmp.replace(out)
        print(
            f"  {len(one_pass)} cues per pass, {len(cues)} in all, in {time.monotonic() - started:.0f} s "
            f"(cached as {out})",
            flush=True,
        )
    count = len(parse_subtitle_file(out.read_bytes(), source="subtitles:sidecar").segments)
    return out, count


# --- Ours: the real stack -------------------------------------------------------------------------------


@dataclass
class OursRun:
    name: str
    label: str
    upload_s: float = 0.0
    first_chunk_s: float | None = None  # last part answered → first chunk_ready received
    first_commentary_s: float | None = None  # … → first chunk_ready with has_commentary received
    first_commentary_index: int | None = None
    first_probe_s: float | None = None  # … → the worker's first event (probe stage) received: queue pickup
    first_analysis_s: float | None = None  # … → first analysis_ready received
    complete_s: float | None = None  # … → complete received (the job's wall time here)
    final_type: str = ""
    chunks: int = 0
    commentary_chunks: int = 0
    copied_chunks: int = 0
    analysis_events: int = 0
    transcript_source: str = ""
    notes: dict[str, int] = field(default_factory=dict)  # why chunks had no commentary, counted
    samples: list[str] = field(default_factory=list)  # the first commentaries, to see what was said
    tts_calls: int = 0
    tts_speech_s: float = 0.0
    tts_span_s: float | None = None  # first TTS call started → last one ended
    tts_busy_s: float = 0.0  # sum of the TTS calls' own durations
    operations_ms: dict[str, list[float]] = field(default_factory=dict)
    worker_python_peak_mb: float = 0.0
    worker_media_peak_mb: float = 0.0
    worker_tree_peak_mb: float = 0.0
    rss_samples: int = 0
    machine_busy: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def ratio(self) -> float | None:
        return None if self.complete_s is None else self.complete_s / VIDEO_SECONDS

    @property
    def tts_per_span(self) -> float | None:
        return self.tts_speech_s / self.tts_span_s if self.tts_span_s else None

    @property
    def tts_per_job(self) -> float | None:
        return self.tts_speech_s / self.complete_s if self.complete_s else None


def _warm_up(client, clip: Path, workers: int) -> None:
    """One commentary job per worker before anything is measured: imports, espeak-ng's first start and the
    database connections are paid once per process, and no user pays them twice."""
    ids = [
        client.upload_in_parts(clip, interval=INTERVAL, name=f"warm-{i}.mp4", fields=COMMENTARY_FIELDS)["task_id"]
        for i in range(workers)
    ]
    for task_id in ids:
        events, _ = asyncio.run(follow(client, task_id, timeout=300))
        if events[-1]["type"] != "complete":
            raise RuntimeError(f"the warm-up job ended with {events[-1]['type']}: {events[-1].get('message')}")
    wait_until_idle()


def _measure(stack, client, source: Path, *, name: str, label: str, subtitles: Path | None) -> OursRun:
    from django.db import close_old_connections

    from jobs.models import PerformanceMetrics

    run = OursRun(name=name, label=label, load_before=os.getloadavg())
    fields = dict(COMMENTARY_FIELDS)
    if subtitles is not None:
        fields["subtitles"] = (subtitles.name, subtitles.read_bytes(), "application/x-subrip")
    sampler = PeakRss({"queue": stack.worker_pids})
    print(f"Ours, {label}: uploading {source.name} ({source.stat().st_size / MB:.0f} MB)…", flush=True)
    followed = upload_and_follow(
        client, stack, source, sampler=sampler, transcribe=subtitles is not None, fields=fields
    )
    run.upload_s, run.machine_busy, run.final_type = followed.upload_s, followed.machine_busy, "complete"
    task_id, events, returned = followed.task_id, followed.events, followed.returned
    chunks = [e for e in events if e["type"] == "chunk_ready"]
    spoken = [e for e in chunks if e["data"].get("has_commentary")]
    run.first_chunk_s = chunks[0]["received"] - returned if chunks else None
    if spoken:
        run.first_commentary_s = spoken[0]["received"] - returned
        run.first_commentary_index = spoken[0]["data"]["index"]
    run.complete_s = events[-1]["received"] - returned
    probe = next((e for e in events if e.get("stage") == "probe"), None)
    analysis = next((e for e in events if e["type"] == "analysis_ready"), None)
    run.first_probe_s = probe["received"] - returned if probe else None
    run.first_analysis_s = analysis["received"] - returned if analysis else None
    run.chunks, run.commentary_chunks = len(chunks), len(spoken)
    run.copied_chunks = sum(bool(e["data"].get("copied")) for e in chunks)
    run.analysis_events = sum(e["type"] == "analysis_ready" for e in events)
    silent = [e["data"] for e in chunks if not e["data"].get("has_commentary")]
    run.samples = [e["data"]["commentary"]["text"] for e in spoken[:2]]
    run.notes = dict(Counter(n for d in silent for n in d.get("notes") or ["(no note)"]))
    run.transcript_source = next((e["data"].get("source", "") for e in events if e["type"] == "transcript_ready"), "")

    close_old_connections()
    metrics = PerformanceMetrics.objects.filter(task_id=task_id)
    rows = list(metrics.values_list("operation", "duration_ms", "created_at", "data"))
    for op, ms, _, _ in rows:
        run.operations_ms.setdefault(op, []).append(ms)
    # A row is written when its block ends: created_at is the end, created_at − duration the start.
    tts = [
        (created.timestamp() - ms / 1000, created.timestamp(), data) for op, ms, created, data in rows if op == "tts"
    ]
    run.tts_calls = len(tts)
    run.tts_speech_s = sum(float(d.get("speech_seconds") or 0) for _, _, d in tts)
    run.tts_busy_s = sum(end - start for start, end, _ in tts)
    if tts:
        run.tts_span_s = max(end for _, end, _ in tts) - min(start for start, _, _ in tts)
    run.worker_python_peak_mb = sampler.python_peak.get("queue", 0) / MB
    run.worker_media_peak_mb = sampler.media_peak.get("queue", 0) / MB
    run.worker_tree_peak_mb = sampler.tree_peak.get("queue", 0) / MB
    run.rss_samples = sampler.samples
    print(f"  done: first commentary chunk {_s(run.first_commentary_s)}, total {_s(run.complete_s)}", flush=True)
    return run


def run_ours(source: Path, clip: Path, *, run_dir: Path, subtitles: Path) -> list[OursRun]:
    from django.conf import settings

    from tests.live import Client, LiveStack, database_url_for

    # The app's own default: workers load the speech model as they start (the tests switch that off).
    stack = LiveStack(
        database_url=database_url_for(settings.DATABASES["default"]),
        media_root=Path(settings.MEDIA_ROOT),
        workers=2,
        extra_env={"ASR_PRELOAD": "1"},
    )
    try:
        print(f"Starting daphne + qcluster (2 workers); logs in {run_dir}/", flush=True)
        stack.start()
        client = Client(stack.base_url).login(*bench_user())
        print("Warm-up: one short commentary job per worker (not measured)…", flush=True)
        _warm_up(client, clip, stack.workers)
        runs = []
        for name, label in RUNS:
            wait_until_idle()
            runs.append(
                _measure(
                    stack, client, source, name=name, label=label, subtitles=subtitles if name == "subtitles" else None
                )
            )
        return runs
    finally:
        stack.stop()


# --- Baseline: strictly sequential phases ---------------------------------------------------------------


@dataclass
class BaselineRun:
    name: str
    intervals_total: int
    intervals_done: int
    extrapolated: bool
    prepare_s: float  # probe + plan
    analysis_s: list[float]
    text_s: list[float]
    tts_s: list[float]
    render_s: list[float]
    speech_s: list[float]  # seconds of speech per TTS call (0 where there was nothing to say)
    commentary_chunks: int
    first_chunk_s: float  # baseline start → first chunk file exists
    first_commentary_s: float | None  # baseline start → first chunk with commentary exists
    total_s: float
    machine_busy: float

    @property
    def ratio(self) -> float:
        return self.total_s / VIDEO_SECONDS

    @property
    def tts_per_phase(self) -> float | None:
        return sum(self.speech_s) / sum(self.tts_s) if sum(self.tts_s) else None

    @property
    def tts_per_total(self) -> float:
        scale = self.intervals_total / self.intervals_done
        return sum(self.speech_s) * scale / self.total_s


def run_baseline(source: Path, *, name: str, segments: list | None, limit: int | None, workdir: Path) -> BaselineRun:
    """The old system: each phase over every interval before the next phase starts, one call at a time."""
    from django.conf import settings

    from jobs.intervals import CommentaryOptions
    from jobs.limits import limits_from_settings
    from jobs.providers import silence_wav, speech_engine
    from media_pipeline.analysis import KeywordContext, analyse_signal, events_for
    from media_pipeline.commentary import fit_to_budget, offline_commentary, word_budget
    from media_pipeline.plan import boundary_targets, keyframes_near, plan_intervals
    from media_pipeline.probe import probe
    from media_pipeline.render.chunk import render_chunk
    from media_pipeline.render.mix import CommentaryMix
    from media_pipeline.transcript.types import Transcript

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    params = {k: v for k, v in COMMENTARY_FIELDS.items() if k != "commentary"} | {"commentary": True}
    options = CommentaryOptions.from_params(params)
    engine = speech_engine(None)  # the configured voice (espeak-ng by default), as the workers build it
    transcript = Transcript(segments or [])
    machine = MachineBusy()
    started = time.perf_counter()
    info = probe(source, limits=limits_from_settings(), ffprobe=settings.FFPROBE_BIN)
    keyframes = None
    if info.video_copyable:
        keyframes = keyframes_near(
            source, boundary_targets(info.duration, INTERVAL), info=info, ffprobe=settings.FFPROBE_BIN
        )
    plan = plan_intervals(info, interval=INTERVAL, keyframes=keyframes)
    prepare_s = time.perf_counter() - started
    todo = plan[:limit] if limit else plan
    what = f"first {len(todo)} of {len(plan)}" if len(todo) < len(plan) else f"all {len(plan)}"
    print(f"Baseline, {name}: {what} intervals, one phase after another…", flush=True)

    def timed(fn, *args, **kwargs):
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        return value, time.perf_counter() - t

    # 1. Events for every interval.
    keywords = KeywordContext()
    analyses, analysis_s = [], []
    for iv in todo:
        t = time.perf_counter()
        signal = analyse_signal(source, info, iv, ffmpeg_bin=settings.FFMPEG_BIN, timeout=120 + iv.duration)
        segs = transcript.between(iv.start, iv.end)
        keywords.update(segs)
        analyses.append((events_for(signal, segs, keywords_context=keywords), segs))
        analysis_s.append(time.perf_counter() - t)
    # 2. Commentary text for every interval.
    texts: list[str] = []
    text_s = []
    wps = engine.words_per_second(options.voice)
    for iv, (analysis, segs) in zip(todo, analyses, strict=True):
        t = time.perf_counter()
        budget = word_budget(iv.duration, delay=options.delay, words_per_second=wps)
        previous = texts[-1] if texts and texts[-1] else None  # as ours: the interval just before, if spoken
        text = fit_to_budget(
            offline_commentary(analysis, segs, style=options.style, budget=budget, previous=previous), budget
        )
        texts.append(text)
        text_s.append(time.perf_counter() - t)
    # 3. Speech for every text, one call at a time.
    speeches, tts_s, speech_s = [], [], []
    for iv, text in zip(todo, texts, strict=True):
        if not text:
            speeches.append(None)
            speech_s.append(0.0)
            continue
        speech, spent = timed(engine.synthesize, text, voice=options.voice, out=workdir / f"speech-{iv.index:05d}.wav")
        speeches.append(speech)
        tts_s.append(spent)
        speech_s.append(speech.duration)
    # 4. Every chunk with its mix, in turn.
    silence = silence_wav(workdir / "silence.wav")
    render_s = []
    first_chunk_at = first_commentary_at = None
    for iv, speech in zip(todo, speeches, strict=True):
        if speech is not None:
            mix = CommentaryMix(
                speech=speech.path, speech_duration=speech.duration, delay=options.delay, duck=options.duck
            )
        else:
            mix = CommentaryMix(speech=silence, speech_duration=0.1, delay=0.0, duck=1.0)
        _, spent = timed(
            render_chunk,
            source,
            info,
            iv,
            out=workdir / f"{iv.index:05d}.ts",
            thumbnail=workdir / f"{iv.index:05d}.jpg",
            ffmpeg_bin=settings.FFMPEG_BIN,
            ffprobe=settings.FFPROBE_BIN,
            is_last=iv.index == len(plan) - 1,
            commentary=mix,
        )
        render_s.append(spent)
        now = time.perf_counter() - started
        first_chunk_at = now if first_chunk_at is None else first_chunk_at
        if speech is not None and first_commentary_at is None:
            first_commentary_at = now
    elapsed = time.perf_counter() - started
    busy = machine.fraction()

    extrapolated = len(todo) < len(plan)
    if extrapolated:
        # Intervals are alike (the same talk looped), so the mean of the first few stands for the rest:
        # each earlier phase runs over all of them before the first chunk can be cut.
        n = len(plan)

        def mean(xs: list[float]) -> float:
            return sum(xs) / len(xs) if xs else 0.0

        before_chunks = prepare_s + n * (mean(analysis_s) + mean(text_s)) + mean(tts_s) * n * len(tts_s) / len(todo)
        first_chunk_at = before_chunks + render_s[0]
        if first_commentary_at is not None:
            first_commentary_at = before_chunks + sum(render_s[: 1 + next(i for i, s in enumerate(speeches) if s)])
        total = before_chunks + n * mean(render_s)
    else:
        total = elapsed
    return BaselineRun(
        name=name,
        intervals_total=len(plan),
        intervals_done=len(todo),
        extrapolated=extrapolated,
        prepare_s=prepare_s,
        analysis_s=analysis_s,
        text_s=text_s,
        tts_s=tts_s,
        render_s=render_s,
        speech_s=speech_s,
        commentary_chunks=sum(s is not None for s in speeches),
        first_chunk_s=first_chunk_at or 0.0,
        first_commentary_s=first_commentary_at,
        total_s=total,
        machine_busy=busy,
    )


# --- Report ---------------------------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s/s"


def build_rows(ours: list[OursRun], bases: dict[str, BaselineRun]) -> list[Row]:
    rows: list[Row] = []
    for run in ours:
        base = bases.get(run.name)
        tag = f"[{run.name}]"
        ex = " (extrap.)" if base and base.extrapolated else ""
        no = "skipped"
        rows += [
            Row(f"{tag} upload of the file in parts", _s(run.upload_s), "— (none)"),
            Row(
                f"{tag} first chunk_ready (ours: from submit returned; baseline: from start)",
                _s(run.first_chunk_s),
                _s(base.first_chunk_s) + ex if base else no,
            ),
            Row(
                f"{tag} first chunk_ready WITH commentary (same clocks)",
                _s(run.first_commentary_s),
                _s(base.first_commentary_s) + ex if base else no,
                f"≤ {TARGET_FIRST_COMMENTARY_S:.0f} s",
                _met(run.first_commentary_s, TARGET_FIRST_COMMENTARY_S),
            ),
            Row(
                f"{tag} total time ÷ video duration",
                "n/a" if run.ratio is None else f"{run.ratio:.3f}× ({run.complete_s:.1f} s)",
                f"{base.ratio:.3f}× ({base.total_s:.0f} s){ex}" if base else no,
                f"≤ {TARGET_TOTAL_RATIO}×",
                _met(run.ratio, TARGET_TOTAL_RATIO),
            ),
            Row(
                f"{tag} chunks with commentary / all chunks",
                f"{run.commentary_chunks} / {run.chunks}",
                f"{base.commentary_chunks} / {base.intervals_done}" if base else no,
            ),
            Row(
                f"{tag} TTS speech s per wall s (a) over the TTS span / baseline: TTS phase",
                _rate(run.tts_per_span),
                _rate(base.tts_per_phase) if base else no,
            ),
            Row(
                f"{tag} TTS speech s per wall s (b) over the whole job",
                _rate(run.tts_per_job),
                _rate(base.tts_per_total) + ex if base else no,
            ),
            Row(
                f"{tag} worker peak RSS: largest Python process / whole qcluster tree",
                f"{run.worker_python_peak_mb:.0f} / {run.worker_tree_peak_mb:.0f} MB",
                "—",
            ),
        ]
    return rows


def breakdown(ours: list[OursRun], bases: dict[str, BaselineRun]) -> str:
    from bench.backbone import percentile

    lines = []
    for run in ours:
        lines.append(f"Ours [{run.name}] — {run.label}:")
        lines.append(
            f"  transcript source: {run.transcript_source or 'none'}; analysis_ready events: "
            f"{run.analysis_events}; chunks video-copied: {run.copied_chunks}/{run.chunks}; first spoken "
            f"chunk: #{run.first_commentary_index}"
        )
        lines.append(
            f"  first chunk's path (from submit returned): probe event {_s(run.first_probe_s)}, first "
            f"analysis_ready {_s(run.first_analysis_s)}, first chunk_ready {_s(run.first_chunk_s)}"
        )
        lines.append(
            f"  TTS: {run.tts_calls} calls, {run.tts_speech_s:.1f} s of speech, calls' own time "
            f"{run.tts_busy_s:.1f} s, span {_s(run.tts_span_s)}, job {_s(run.complete_s)}"
        )
        for op, values in sorted(run.operations_ms.items()):
            lines.append(
                f"  {op}: n={len(values)}, p50 {percentile(values, 50):.0f} ms, max {max(values):.0f} ms, "
                f"sum {sum(values) / 1000:.1f} s"
            )
        for i, text in enumerate(run.samples):
            lines.append(f"  commentary #{i}: {text!r}")
        for note, n in sorted(run.notes.items(), key=lambda kv: -kv[1]):
            lines.append(f"  chunk without commentary ×{n}: {note}")
        lines.append(
            f"  machine: {run.machine_busy:.0%} of all cores busy during the run (anyone's work); load "
            f"before {run.load_before[0]:.2f}"
        )
    for name, base in bases.items():
        lines.append(
            f"Baseline [{name}]: probe+plan {base.prepare_s:.2f} s; per interval (mean): analysis "
            f"{_mean(base.analysis_s):.2f} s, text {_mean(base.text_s) * 1000:.1f} ms, TTS "
            f"{_mean(base.tts_s):.2f} s, render {_mean(base.render_s):.2f} s; machine "
            f"{base.machine_busy:.0%} busy"
        )
        if base.extrapolated:
            lines.append(
                f"  extrapolated from {base.intervals_done} of {base.intervals_total} intervals (--quick); "
                "run without --quick to measure all of them"
            )
    return "\n".join(lines)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.commentary", description=__doc__.split("\n\n")[0])
    quick = f"baseline on the first {QUICK_BASELINE_INTERVALS} intervals only, the rest extrapolated"
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline entirely")
    parser.add_argument("--keep", action="store_true", help="keep the run's media folder (uploads, chunks)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The Whisper model (preloaded by the workers, used once for the subtitles) is joined once for all runs.
    os.environ.setdefault("MODEL_CACHE_DIR", str(CACHE / "models"))
    run_dir, mode = start_run()

    from django.conf import settings

    source = source_video(CACHE)
    clip = small_clip(CACHE, source)
    subtitles, cue_count = bench_subtitles(CACHE, source)
    providers = f"LLM_PROVIDER={settings.LLM_PROVIDER}, TTS_PROVIDER={settings.TTS_PROVIDER}"
    video = f"{VIDEO_SECONDS} s 1280×720 30 fps H.264/AAC ({source.stat().st_size / MB:.0f} MB), {INTERVAL} s intervals"
    print(
        f"Mode: {mode}\nVideo: {video}\nProviders: {providers}\nSubtitles: {subtitles.name}, {cue_count} cues\n"
        f"Machine: {os.cpu_count()} cores, {platform.platform()}",
        flush=True,
    )
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
        ours = run_ours(source, clip, run_dir=run_dir, subtitles=subtitles)
    except (RuntimeError, TimeoutError) as exc:
        print(f"\nThe run failed: {exc}\nLogs: {run_dir}/", file=sys.stderr)
        return 1
    bases: dict[str, BaselineRun] = {}
    if not args.no_baseline:
        from media_pipeline.transcript.subtitles import parse_subtitle_file

        segments = parse_subtitle_file(subtitles.read_bytes(), source="subtitles:sidecar").segments
        for name, _ in RUNS:
            bases[name] = run_baseline(
                source,
                name=name,
                segments=segments if name == "subtitles" else None,
                limit=QUICK_BASELINE_INTERVALS if args.quick else None,
                workdir=run_dir / "baseline",
            )
    load_after = os.getloadavg()

    rows = build_rows(ours, bases)
    print()
    print(f"Commentary benchmark — {mode}; {providers}")
    print(f"Video: {video}")
    print(table(rows))
    print()
    print(breakdown(ours, bases))
    print(f"Load average: {load[0]:.2f} at the start, {load_after[0]:.2f} at the end (2 cores)")
    if others:
        print(f"WARNING: the machine was busy with other work at the start (load {load[0]:.1f}); see above.")
    missed = [r.metric for r in rows if r.met.startswith("NO")]
    print(f"\nTargets missed: {', '.join(missed)}" if missed else "\nAll targets met.")

    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.commentary", *(argv or sys.argv[1:])]),
        "mode": mode,
        "providers": providers,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_at_start": load,
            "load_at_end": load_after,
            "busy_at_start": others,
        },
        "video": {"description": video, "path": str(source), "subtitles": str(subtitles), "cues": cue_count},
        "rows": [asdict(r) for r in rows],
        "ours": [
            asdict(r) | {"ratio": r.ratio, "tts_per_span": r.tts_per_span, "tts_per_job": r.tts_per_job} for r in ours
        ],
        "baseline": {
            k: asdict(b) | {"ratio": b.ratio, "tts_per_phase": b.tts_per_phase, "tts_per_total": b.tts_per_total}
            for k, b in bases.items()
        },
    }
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    out = RESULTS / "commentary.json"
    out.write_text(text)
    (run_dir / "commentary.json").write_text(text)
    print(f"Written: {out} and {run_dir / 'commentary.json'}")
    if not args.keep:
        shutil.rmtree(run_dir / "media", ignore_errors=True)
        shutil.rmtree(run_dir / "baseline", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
