"""The stages of each kind of task, wired to events and metrics. The work itself is in media_pipeline/."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from django.conf import settings

from media_pipeline.errors import MediaError
from media_pipeline.plan import Interval, boundary_targets, keyframes_near, plan_intervals
from media_pipeline.probe import MediaInfo, clock, probe
from media_pipeline.process import CancelToken, Signal
from media_pipeline.render.chunk import ChunkResult
from media_pipeline.render.final import concat_segments
from media_pipeline.transcript.types import Segment, Transcript

from .chunks import ChunkCutter, render_in_order
from .ideas import IdeasWorker
from .intervals import IntervalOutcome, IntervalPipeline, TranscriptBoard
from .kit import finish_kit, start_kit, start_kit_from_captions
from .layout import TaskFiles
from .limits import limits_from_settings
from .models import ProcessingTask
from .reporter import emit, measured
from .run import JobRun, Progress, job_run
from .speech import SpeechWarmup, needs_recognition
from .transcribe import TranscriptWorker, whole_label

# Stages in the order the watch page lists them, with the share of the progress bar each one takes.
STAGES = {
    "upload": [
        ("probe", "Check the file", 2),
        ("plan", "Plan intervals", 2),
        ("chunk", "Cut chunks", 88),
        ("finalize", "Join the final video", 8),
    ],
    "youtube": [
        ("fetch", "Fetch captions", 2),
        ("download", "Download the video", 40),
        ("probe", "Check the file", 1),
        ("plan", "Plan intervals", 1),
        ("chunk", "Cut chunks", 50),
        ("finalize", "Join the final video", 6),
    ],
}


IDEAS_SHARE = 6


def stages_for(task: ProcessingTask) -> list[tuple[str, str, int]]:
    stages = STAGES["youtube" if task.source == ProcessingTask.Source.YOUTUBE else "upload"]
    if not task.options.ideas:
        return stages
    # Ideas run beside the chunks; what is left of them after the final video is the bar's last stretch.
    stages = [(name, label, share - IDEAS_SHARE if name == "chunk" else share) for name, label, share in stages]
    return [*stages, ("ideas", "Finish content ideas", IDEAS_SHARE)]


def _chunks(n: int) -> str:
    return f"{n} chunk" if n == 1 else f"{n} chunks"


def overall(task: ProcessingTask, stage: str, fraction: float) -> float:
    """Progress 0–100 of the whole task when `stage` is `fraction` done."""
    shares = {name: share for name, _, share in stages_for(task)}
    starts = dict(zip(shares, accumulate(shares.values(), initial=0), strict=False))
    return round(starts[stage] + shares[stage] * max(0.0, min(1.0, fraction)), 2)


@dataclass
class Outcome:
    result: dict
    message: str
    data: dict = field(default_factory=dict)


def _probe(task: ProcessingTask, src: Path, cancel: CancelToken) -> MediaInfo:
    emit(task.pk, "stage", stage="probe", progress=overall(task, "probe", 0), message="Checking the file")
    with measured(task.pk, "ffprobe", size=task.source_size):
        info = probe(
            src,
            limits=limits_from_settings(),
            ffprobe=settings.FFPROBE_BIN,
            timeout=settings.FFPROBE_TIMEOUT,
            cancel=cancel,
        )
    return info


def _plan(task: ProcessingTask, src: Path, info: MediaInfo, cancel: CancelToken) -> list[Interval]:
    interval = float(task.options.interval)
    emit(
        task.pk,
        "stage",
        stage="plan",
        progress=overall(task, "plan", 0),
        message=f"{info.width}×{info.height}, {info.duration:.1f} s; planning {interval:.0f} s intervals",
    )
    with measured(task.pk, "plan") as extra:
        keyframes = None
        if info.video_copyable:
            targets = boundary_targets(info.duration, interval)
            keyframes = keyframes_near(src, targets, info=info, ffprobe=settings.FFPROBE_BIN, cancel=cancel)
        plan = plan_intervals(info, interval=interval, keyframes=keyframes)
        extra["intervals"] = len(plan)
    ProcessingTask.objects.filter(pk=task.pk).update(
        result={
            "media": {
                "duration": info.duration,
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "video_codec": info.video_codec,
                "audio_codec": info.audio_codec,
                "copy_video": info.video_copyable,
            },
            "plan": [iv.as_dict() for iv in plan],
            "target_duration": math.ceil(max(iv.duration for iv in plan)) + 1,
        }
    )
    return plan


def _extinf(chunk: ChunkResult) -> float:
    """The chunk's length as the playlist states it: from its rounded start and end, so the lengths of all
    chunks add up to the video's duration exactly instead of accumulating each chunk's rounding."""
    return round(round(chunk.start + chunk.duration, 3) - round(chunk.start, 3), 3)


def _wait_for_transcript(job: JobRun, worker: TranscriptWorker | None) -> str:
    """Let the transcript catch up with the chunks before the job ends; say so when it could not be made."""
    if worker is None:
        return ""
    if not worker.finished.is_set():
        emit(job.task.pk, "stage", stage="chunk", message="All chunks are ready; finishing the transcript")
    worker.wait(job.cancel)
    if worker.error:
        emit(job.task.pk, "stage", stage="chunk", message=worker.error, data={"transcript_error": worker.error})
    return worker.error or ""


def _ingest_youtube(job: JobRun) -> tuple[Path | None, Transcript | None, IdeasWorker | None]:
    """Captions first (they can be shown before any video exists), then, if asked, the video itself.

    Returns the downloaded file (None: captions only), the captions (None: YouTube has none to give) and
    the ideas worker, started from the captions while the video downloads.
    YouTube refusing the captions is not fatal when the video is to be downloaded: the audio is
    transcribed instead. Refusing both ends the job with YouTube's reason as a sentence.
    """
    from media_pipeline.ingest import youtube

    task, cancel = job.task, job.cancel
    video_id = task.options.video_id
    emit(task.pk, "stage", stage="fetch", progress=overall(task, "fetch", 0), message="Fetching captions from YouTube")
    captions, captions_error = None, None
    with measured(task.pk, "youtube.captions") as extra:
        try:
            captions = youtube.fetch_captions(
                video_id, proxy=settings.YOUTUBE_PROXY, base_url=settings.YOUTUBE_BASE_URL
            )
            extra.update(source=captions.source, segments=len(captions.segments))
        except MediaError as exc:
            captions_error = exc
            extra["error"] = exc.message
    if captions is not None:
        emit(
            task.pk,
            "stage",
            stage="fetch",
            progress=overall(task, "fetch", 1),
            message=f"Captions found: {whole_label(captions)}",
            data={"transcript_source": captions.source},
        )
    elif not task.options.download:
        assert captions_error is not None
        raise captions_error  # nothing else to get
    else:
        assert captions_error is not None
        emit(
            task.pk, "stage", stage="fetch", message=f"{captions_error.message} The audio will be transcribed instead."
        )
    job.check()
    worker = None
    if captions is not None:
        duration = max((seg.end for seg in captions.segments), default=0.0)
        worker = _start_ideas(job, segments=lambda: captions.segments, duration=duration, analyses=lambda: [])
    if not task.options.download:
        return None, captions, worker

    emit(task.pk, "stage", stage="download", progress=overall(task, "download", 0), message="Downloading the video")

    def on_progress(
        p: youtube.DownloadProgress,
    ) -> None:  # download_video calls it at most every half second, and at the end
        percent = p.percent or 0.0
        speed = f", {p.speed / 2**20:.1f} MB/s" if p.speed else ""
        emit(
            task.pk,
            "progress",
            stage="download",
            progress=overall(task, "download", percent / 100),
            eta_seconds=p.eta,
            message=f"Downloading… {percent:.0f} %{speed}",
            data={"percent": percent, "speed": p.speed, "bytes": p.downloaded_bytes, "total": p.total_bytes},
        )

    dest = task.files.source(".mp4")
    with measured(task.pk, "youtube.download") as extra:
        got = youtube.download_video(
            settings.YOUTUBE_WATCH_URL.format(id=video_id),
            dest,
            max_bytes=settings.MAX_UPLOAD_BYTES,
            proxy=settings.YOUTUBE_PROXY,
            on_progress=on_progress,
            cancel=cancel,
            max_duration=settings.MAX_DURATION_SECONDS,
            ffmpeg=settings.FFMPEG_BIN,
            extractors=settings.YOUTUBE_EXTRACTORS,
        )
        extra.update(bytes=got.size, format=got.format)
    relative = got.path.relative_to(settings.MEDIA_ROOT)
    title = (got.info.title or task.title)[:255]
    ProcessingTask.objects.filter(pk=task.pk).update(source_path=str(relative), source_size=got.size, title=title)
    task.refresh_from_db()
    return got.path, captions, worker


def _captions_only(task: ProcessingTask, captions: Transcript) -> Outcome:
    """No video: the transcript is the result, announced in interval-sized pieces like any other."""
    interval = float(task.options.interval)
    end = max((s.end for s in captions.segments), default=0.0)
    label = whole_label(captions)
    count = max(1, math.ceil(end / interval))
    for index in range(count):
        start, stop = index * interval, min((index + 1) * interval, end)
        segs = [s for s in captions.segments if start <= s.start < stop or (index == count - 1 and s.start >= stop)]
        emit(
            task.pk,
            "transcript_ready",
            stage="fetch",
            progress=overall(task, "fetch", (index + 1) / count),
            message=f"Transcript of {clock(start)}–{clock(stop)} ready ({label})",
            data={
                "index": index,
                "start": round(start, 3),
                "end": round(stop, 3),
                "source": captions.source,
                "label": label,
                "segments": [seg.as_dict() for seg in segs],
            },
        )
    result = dict(ProcessingTask.objects.values_list("result", flat=True).get(pk=task.pk) or {})
    result.update({"transcript": captions.source, "video": False})
    return Outcome(
        result=result,
        message="Done: the transcript is ready (the video was not downloaded).",
        data={"transcript": captions.source, "chunks": 0},
    )


def run_chunks(*, task: ProcessingTask, cancel: CancelToken) -> Outcome:
    """[YouTube: captions → download] → probe → plan → one segment per interval (chunk_ready as each
    lands), transcript beside it → final MP4."""
    with job_run(task, cancel) as job:
        captions, ideas = None, None
        if task.source == ProcessingTask.Source.YOUTUBE:
            downloaded, captions, ideas = _ingest_youtube(job)
            if downloaded is None:  # captions only (download off): there are captions, or the job failed
                assert captions is not None
                job.video.set(None, None)
                start_kit_from_captions(job, captions)
                return _with_ideas(job, finish_kit(job, _captions_only(task, captions)), ideas)
        outcome, ideas = _run_video(job, captions=captions, ideas=ideas)
        return _with_ideas(job, finish_kit(job, outcome), ideas)


def _start_ideas(
    job: JobRun, *, segments: Callable[[], list[Segment]], duration: float, analyses: Callable[[], list[dict]]
) -> IdeasWorker | None:
    if not job.task.options.ideas:
        return None
    return job.start(IdeasWorker(job, segments=segments, duration=duration, analyses=analyses))


def _with_ideas(job: JobRun, outcome: Outcome, ideas: IdeasWorker | None) -> Outcome:
    """Wait for the ideas and pieces before the job ends; their summary goes into the result."""
    if ideas is None:
        return outcome
    task = job.task
    if not ideas.finished.is_set():
        emit(task.pk, "stage", stage="ideas", progress=overall(task, "ideas", 0), message="Finishing the content ideas")
    ideas.wait(job.cancel)
    outcome.result["ideas"] = ideas.summary or {"error": ideas.error}
    outcome.data["ideas"] = ideas.summary.get("ideas", 0) if ideas.summary else 0
    if ideas.error:
        emit(task.pk, "stage", stage="ideas", message=ideas.error, data={"ideas_error": ideas.error})
        outcome.message += f" {ideas.error}"
    elif ideas.summary:
        made = ideas.summary.get("rendered", 0) + ideas.summary.get("ready", 0)
        total = ideas.summary.get("ideas", 0)
        partial = " (partial: some pieces were dropped or failed; each says why)" if made < total else ""
        outcome.message += f" {made} of {total} content pieces made{partial}."
    return outcome


def _run_video(
    job: JobRun, *, captions: Transcript | None, ideas: IdeasWorker | None
) -> tuple[Outcome, IdeasWorker | None]:
    """Probe → plan → chunks (with the transcript, analysis and commentary beside them) → the final video.
    Starts the ideas worker from the whole transcript when YouTube's captions did not start it already, and
    returns it with the outcome."""
    task = job.task
    src = task.source_file()
    info = _probe(task, src, job.cancel)
    job.check()
    job.video.set(src, info)
    if needs_recognition(job, info, captions=captions):
        # The model loads while the video is planned and cut. Not one of the run's joined workers: a load
        # cannot be interrupted, and a cancelled job must not wait for it (the warm-up frees it then).
        SpeechWarmup(job, info=info).start()
    plan = _plan(task, src, info, job.cancel)
    job.check()

    # The split pass starts now, so the first chunk does not wait for the transcript and ideas to start.
    cutter = ChunkCutter(job, src=src, info=info, plan=plan, commentary=task.options.commentary)
    try:
        transcribing = task.options.transcribe
        emit(
            task.pk,
            "stage",
            stage="chunk",
            progress=overall(task, "chunk", 0),
            message=f"Cutting {_chunks(len(plan))}" + (" and transcribing" if transcribing else ""),
            data={"chunks": len(plan)},
        )
        # Chunks and transcript intervals both move the bar.
        job.progress = Progress(
            total=len(plan) * (2 if transcribing else 1), position=lambda fraction: overall(task, "chunk", fraction)
        )
        board = TranscriptBoard(task, plan)
        transcript = _start_transcript(job, src, info, plan, board, captions) if transcribing else None
        if transcript is None:
            board.close()
        if ideas is None:

            def whole_transcript() -> list[Segment]:
                return [seg for iv in plan for seg in board.wait(iv.index, cancel=job.token)]

            ideas = _start_ideas(job, segments=whole_transcript, duration=info.duration, analyses=task.analyses)
        start_kit(job, plan=plan, board=board, duration=info.duration)
        chunks, commentated = _cut_chunks(job, cutter, board)
    finally:
        cutter.close()
    transcript_note = _wait_for_transcript(job, transcript)
    job.check()
    return _finalize(
        job, info, plan, chunks, transcript=transcript, transcript_note=transcript_note, commentated=commentated
    ), ideas


def _start_transcript(
    job: JobRun, src: Path, info: MediaInfo, plan: list[Interval], board: TranscriptBoard, captions: Transcript | None
) -> TranscriptWorker:
    """The transcript worker, announcing each interval's words as they come and filling `board`."""
    task = job.task
    progress = job.progress
    assert progress is not None

    def announce(iv: Interval, segs: list[Segment], source: str, label: str, refined: bool = False) -> None:
        what = "refined" if refined else "ready"
        with progress.unit() as (position, eta):
            emit(
                task.pk,
                "transcript_ready",
                stage="chunk",
                progress=position,
                eta_seconds=eta,
                message=f"Transcript of {clock(iv.start)}–{clock(iv.end)} {what} ({label})",
                data={
                    "index": iv.index,
                    "start": round(iv.start, 3),
                    "end": round(iv.end, 3),
                    "source": source,
                    "label": label,
                    "segments": [seg.as_dict() for seg in segs],
                    **({"refined": True} if refined else {}),
                },
            )
        board.add(iv, segs, refined=refined)

    return job.start(
        TranscriptWorker(job, src=src, info=info, plan=plan, announce=announce, on_end=board.close, captions=captions)
    )


def _cut_chunks(job: JobRun, cutter: ChunkCutter, board: TranscriptBoard) -> tuple[list[ChunkResult], int]:
    """Every chunk, in order, each announced as it lands (except those an earlier attempt announced);
    returns them and how many have commentary. With commentary or ideas, intervals go through the
    IntervalPipeline (analysis, text, speech, mix); otherwise they are only cut."""
    task, options = job.task, job.task.options
    announced = task.chunk_indexes()  # a re-delivery after a crash does not announce a chunk twice
    chunks: list[ChunkResult] = []
    commentated = 0
    outcomes: Generator[IntervalOutcome, None, None]
    if options.commentary or options.ideas:
        outcomes = IntervalPipeline(job, board=board, cutter=cutter).run()
    else:
        outcomes = (IntervalOutcome(chunk=c) for c in render_in_order(job, cutter))
    # closing(): if emitting fails, the renders still in flight are stopped before the error propagates.
    with closing(outcomes) as rendered:
        for outcome in rendered:
            chunks.append(outcome.chunk)
            commentated += outcome.commentary is not None
            if outcome.chunk.index not in announced:
                _announce_chunk(job, outcome, done=len(chunks), count=len(cutter.plan))
            job.first_chunk.set()  # written and announced: the work that waited may start
    return chunks, commentated


def _finalize(
    job: JobRun,
    info: MediaInfo,
    plan: list[Interval],
    chunks: list[ChunkResult],
    *,
    transcript: TranscriptWorker | None,
    transcript_note: str,
    commentated: int,
) -> Outcome:
    """Join the chunks into the final MP4; the result and the `complete` message."""
    task = job.task
    emit(task.pk, "stage", stage="finalize", progress=overall(task, "finalize", 0), message="Joining the final video")
    with measured(task.pk, "finalize", chunks=len(chunks)):
        concat_segments(
            [c.path for c in chunks],
            out=task.files.final,
            ffmpeg_bin=settings.FFMPEG_BIN,
            cancel=job.cancel,
            start_time=info.start_time,
        )
    copied = sum(c.copied for c in chunks)
    result = dict(ProcessingTask.objects.values_list("result", flat=True).get(pk=task.pk) or {})
    result.update(
        {
            "final": TaskFiles.FINAL,
            "chunks": len(plan),
            "copied_chunks": copied,
            "transcript": transcript.source if transcript else "",
            "transcript_note": transcript_note,
            "commentary_chunks": commentated,
        }
    )
    return Outcome(
        result=result,
        message=f"Done: {_chunks(len(plan))} and the final video are ready.",
        data={
            "final_url": task.media_url(TaskFiles.FINAL),
            "chunks": len(plan),
            "copied_chunks": copied,
            "duration": info.duration,
            "commentary_chunks": commentated,
        },
    )


def _announce_chunk(job: JobRun, outcome: IntervalOutcome, *, done: int, count: int) -> None:
    """The chunk_ready event: where the chunk is, how long, its score and commentary."""
    task, chunk = job.task, outcome.chunk
    assert job.progress is not None
    with job.progress.unit() as (position, eta):
        emit(
            task.pk,
            "chunk_ready",
            stage="chunk",
            progress=position,
            eta_seconds=eta,
            message=f"Chunk {done} of {count} ready"
            + (" with commentary" if outcome.commentary else "")
            + (f" ({' '.join(outcome.notes)})" if outcome.notes else ""),
            data={
                "index": chunk.index,
                "start": round(chunk.start, 3),
                "end": round(chunk.end, 3),
                "duration": _extinf(chunk),
                "url": task.media_url(TaskFiles.chunk_name(chunk.index)),
                "thumbnail": task.media_url(TaskFiles.thumb_name(chunk.index)),
                "has_commentary": outcome.commentary is not None,
                "commentary": outcome.commentary,
                "notes": outcome.notes,
                "score": (outcome.analysis or {}).get("score"),
                "copied": chunk.copied,
                "count": count,
            },
        )


def _run_generate(*, task: ProcessingTask, cancel: Signal) -> Outcome:
    from .generate import run_generate  # jobs/generate.py builds on this module's Outcome

    return run_generate(task=task, cancel=cancel)


PIPELINES: dict[str, Callable[..., Outcome]] = {
    ProcessingTask.Kind.CHUNKS: run_chunks,
    ProcessingTask.Kind.GENERATE: _run_generate,
}
