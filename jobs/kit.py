"""The publishing kit of a task (jobs side: events and files). The work is media_pipeline/kit.

A `KitWorker` thread of the job run starts with the chunks and waits for the whole transcript; then:
1. chapters (topic shifts + interval scores) → kit/chapters.vtt and a `chapters_ready` event;
2. titles and a description (the configured chat model, else offline) → `titles_ready`;
3. thumbnail candidates and covers, rendered in the run's image pool → one `thumbnail_ready` each.
When the final video exists, `finish_kit` writes kit/final-chapters.mp4 (the final MP4 with chapter markers,
stream copy) and announces the chapters again with its URL. Nothing here fails the job: a part that cannot be
made says why, in its event and in the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.files import atomic_output
from media_pipeline.kit.chapters import Chapter, chapter_list, find_chapters, to_webvtt, youtube_ready
from media_pipeline.kit.publish import publish_text
from media_pipeline.plan import Interval
from media_pipeline.transcript.types import Segment

from .intervals import TranscriptBoard
from .layout import TaskFiles
from .models import ProcessingTask
from .reporter import emit, measured
from .run import JobRun, Worker

log = logging.getLogger(__name__)

NO_TRANSCRIPT = "There is no transcript, so there are no chapters or title suggestions."
YOUTUBE_NOTE = "YouTube shows chapters only when there are at least three, the first at 0:00, each at least 10 s long."


def chapters_data(task: ProcessingTask, chapters: list[Chapter], *, video: bool = False) -> dict[str, Any]:
    ready = youtube_ready(chapters)
    return {
        "chapters": [c.as_dict() for c in chapters],
        "list": chapter_list(chapters),
        "youtube_ready": ready,
        "note": "" if ready else YOUTUBE_NOTE,
        "vtt_url": task.media_url(TaskFiles.CHAPTERS_VTT),
        "video_url": task.media_url(TaskFiles.CHAPTERED) if video else None,
    }


class KitWorker(Worker):
    """Chapters, titles and images of one task, in its own thread (see the module docstring)."""

    label = "kit"

    def __init__(self, job: JobRun, *, segments: Callable[[], list[Segment]], duration: float) -> None:
        super().__init__(job)
        self.task, self.get_segments, self.duration = job.task, segments, duration
        self.cancel = job.token
        self.chapters: list[Chapter] = []
        self.summary: dict[str, Any] = {}

    def work(self) -> None:
        try:
            self._run()
        except Cancelled:
            self.error = "The job stopped before the publishing kit was finished."
        except MediaError as exc:
            log.warning("kit of task %s failed: %s (%s)", self.task.pk, exc.message, exc.detail)
            self.error = exc.message
        except Exception:
            log.exception("kit of task %s crashed", self.task.pk)
            self.error = "The publishing kit could not be made; the video itself is not affected."
        if self.error:
            self.summary["error"] = self.error

    def _run(self) -> None:
        task = self.task
        segments = self.get_segments()
        if self.cancel.is_set():
            raise Cancelled()
        if not any(s.text.strip() for s in segments):
            self.error = NO_TRANSCRIPT
            return
        with measured(task.pk, "kit.chapters") as extra:
            self.chapters = find_chapters(segments, duration=self.duration, analyses=task.analyses())
            extra["chapters"] = len(self.chapters)
        vtt = task.files.path(TaskFiles.CHAPTERS_VTT)
        with atomic_output(vtt) as tmp:
            tmp.write_text(to_webvtt(self.chapters), encoding="utf-8")
        emit(
            task.pk,
            "chapters_ready",
            message=f"{len(self.chapters)} chapters found",
            data=chapters_data(task, self.chapters),
        )
        self.summary["chapters"] = len(self.chapters)
        model = self.job.providers.chat
        with measured(task.pk, "kit.titles", provider=model.provider if model else "offline"):
            text = publish_text(segments, self.chapters, duration=self.duration, model=model, cancel=self.cancel)
        emit(
            task.pk,
            "titles_ready",
            message=f"{len(text.titles)} title suggestions and a description written"
            + (f" ({text.notes[0]})" if text.notes else ""),
            data=text.as_dict(),
        )
        self.summary["titles"] = len(text.titles)


def start_kit(job: JobRun, *, plan: list[Interval], board: TranscriptBoard, duration: float) -> KitWorker | None:
    """The kit worker of a task with a transcript (None when the kit is off or nothing is transcribed)."""
    if not settings.KIT_ENABLED or not job.task.options.transcribe:
        return None

    def whole_transcript() -> list[Segment]:
        return [seg for iv in plan for seg in board.wait(iv.index, cancel=job.token)]

    return job.start(KitWorker(job, segments=whole_transcript, duration=duration))


def finish_kit(job: JobRun, result: dict[str, Any]) -> None:
    """After the final video: wait for the kit, write the chaptered MP4, put the kit's summary in `result`."""
    worker = next((w for w in job.workers if isinstance(w, KitWorker)), None)
    if worker is None:
        return
    task = job.task
    worker.wait(job.cancel)
    summary = dict(worker.summary)
    final = task.files.final
    if worker.chapters and final.is_file():
        from media_pipeline.kit.markers import with_chapters

        try:
            with measured(task.pk, "kit.chaptered_mp4", chapters=len(worker.chapters)):
                with_chapters(
                    final,
                    worker.chapters,
                    out=task.files.path(TaskFiles.CHAPTERED),
                    ffmpeg_bin=settings.FFMPEG_BIN,
                    cancel=job.cancel,
                )
            emit(
                task.pk,
                "chapters_ready",
                message="The final video with chapter markers is ready",
                data=chapters_data(task, worker.chapters, video=True),
            )
            summary["chaptered_video"] = TaskFiles.CHAPTERED
        except MediaError as exc:
            summary["chaptered_video_error"] = exc.message
            emit(task.pk, "stage", message=f"The video with chapter markers could not be made: {exc.message}")
    result["kit"] = summary
