"""The publishing kit of a task (jobs side: events and files). The work is media_pipeline/kit.

A `KitWorker` thread of the job run starts with the chunks. Once the first chunk is out (not before: the first
words and the first chunk need the CPU), while the transcript is still being made, it grabs and scores a sheet
of frames (one ffmpeg run at a lower CPU priority; `frame_sheet`), so that none of the kit's decoding waits
behind the transcript. Then it waits for the whole transcript:
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.conf import settings
from django.urls import reverse

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.files import atomic_output
from media_pipeline.kit.chapters import Chapter, chapter_list, find_chapters, to_webvtt, youtube_ready
from media_pipeline.kit.frames import frame_name
from media_pipeline.kit.publish import publish_text
from media_pipeline.plan import Interval
from media_pipeline.process import BACKGROUND_NICE, CancelToken, NeverCancelled
from media_pipeline.transcript.types import Segment, Transcript

from .intervals import TranscriptBoard
from .layout import TaskFiles
from .models import ProcessingTask
from .reporter import emit, measured
from .run import JobRun, Worker, result_of

if TYPE_CHECKING:
    from media_pipeline.kit.frames import FrameScore

log = logging.getLogger(__name__)


class _HasResult(Protocol):
    result: dict


OutcomeT = TypeVar("OutcomeT", bound=_HasResult)  # pipeline.Outcome (imported here it would be a cycle)

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
        self.sheet: FrameSheet | None = None

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
        if settings.KIT_THUMBNAILS:
            try:
                self.sheet = frame_sheet(task, job=self.job, cancel=self.cancel)
            except MediaError as exc:  # no images, but the chapters and titles are still made
                log.warning("kit frames of task %s failed: %s (%s)", task.pk, exc.message, exc.detail)
                self.summary["images_error"] = exc.message
                emit(task.pk, "stage", message=f"No thumbnails could be made: {exc.message}")
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
        if self.sheet is not None:
            self.summary["images"] = make_images(task, chapters=self.chapters, titles=text.titles, sheet=self.sheet)


# ------------------------------------------------------------------------------------------------- images

IMAGE_LABELS = {"thumb": "Thumbnail 1280×720", "square": "Square cover 1080×1080", "vertical": "9:16 cover 1080×1920"}


def image_data(task: ProcessingTask, *, kind: str, slot: int, spec: Any, name: str, state: dict) -> dict[str, Any]:
    width, height = spec.size
    path = task.files.path(name)
    return {
        "kind": kind,
        "slot": slot,
        "label": f"{IMAGE_LABELS[kind]}" + (f" #{slot + 1}" if kind == "thumb" else ""),
        "url": task.media_url(name),
        "files": {"image": name},
        "frame_t": spec.frame_t,
        "title": spec.text,
        "layout": spec.layout,
        "width": width,
        "height": height,
        "bytes": path.stat().st_size if path.is_file() else 0,
        # What a regenerate chooses from next: the ranked frames and the texts, and where this one is in each.
        "frames": state["frames"],
        "texts": state["texts"],
        "regenerate_url": reverse("api-kit-image", args=[task.pk]),
    }


@dataclass
class FrameSheet:
    """The frames a task's images are made from, grabbed and scored before the chapters are known."""

    frames_dir: Path
    scores: list[FrameScore]
    cancel: CancelToken


def frame_sheet(task: ProcessingTask, *, job: JobRun, cancel: CancelToken) -> FrameSheet | None:
    """Frames evenly over the video in one ffmpeg run, scored (sharpness, contrast, faces); None when the task
    has no video (captions only). Runs once the video is known and its first chunk is out, beside the
    transcript."""
    from media_pipeline.kit.frames import grab_frames, score_frame, sheet_times

    video = job.video
    video.wait(cancel)
    if video.src is None or video.info is None:
        return None
    job.after_first_chunk(cancel)  # not before: see JobRun.first_chunk
    times = sheet_times(video.info.duration)
    frames_dir = task.files.path(TaskFiles.KIT_FRAMES)
    with measured(task.pk, "kit.frames", frames=len(times)) as extra:
        grabbed = grab_frames(
            video.src, times, out_dir=frames_dir, ffmpeg_bin=settings.FFMPEG_BIN, cancel=cancel, nice=BACKGROUND_NICE
        )
        scores = [score_frame(p, t) for t, p in grabbed.items()]
        extra["faces"] = sum(1 for s in scores if s.face)
    return FrameSheet(frames_dir=frames_dir, scores=scores, cancel=cancel)


def make_images(task: ProcessingTask, *, chapters: list[Chapter], titles: list[str], sheet: FrameSheet) -> int:
    """Thumbnail candidates and covers from the sheet's frames, ranked and spread over the chapters, rendered in
    the image pool; one thumbnail_ready each as it is written. Returns how many were made."""
    from media_pipeline.kit.frames import rank, scene_cuts, spread
    from media_pipeline.kit.thumbnails import LAYOUTS, ImageSpec, short_texts

    from .ideas import image_pool

    cancel, frames_dir = sheet.cancel, sheet.frames_dir
    ranked = rank(sheet.scores, cuts=scene_cuts(task.analyses()))
    if not ranked:
        emit(task.pk, "stage", message="No frame of the video is sharp enough for a thumbnail.")
        return 0
    order = spread(ranked, chapters)
    focus = {s.t: s.focus for s in ranked}
    texts = short_texts(chapters, titles)
    state = {"frames": order, "texts": texts}
    count = settings.KIT_THUMBNAILS
    jobs = [
        ("thumb", slot, order[slot % len(order)], texts[slot % len(texts)], LAYOUTS[slot % len(LAYOUTS)])
        for slot in range(count)
    ]
    jobs += [("square", 0, order[0], texts[0], "band"), ("vertical", 0, order[0], texts[0], "band")]
    made = 0
    pool = image_pool()
    with measured(task.pk, "kit.images", images=len(jobs)) as extra:
        futures = []
        for kind, slot, t, text, layout in jobs:
            key = task.content_key or str(task.pk)
            spec = ImageSpec(frames_dir / frame_name(t), t, key, text, layout, kind, focus=focus[t])
            futures.append((kind, slot, spec, submit_image(pool, task, kind, slot, spec, owner=str(task.pk))))
        for kind, slot, spec, future in futures:
            try:
                rendered = result_of(future, cancel)
            except Cancelled:
                for *_, pending in futures:  # the pool is the process's: leave it nothing of this task
                    pending.cancel()
                raise
            except Exception as exc:  # one image failing (a bad frame, a full disk) leaves the others
                log.warning("kit image %s %s of task %s failed", kind, slot, task.pk, exc_info=True)
                reason = (
                    exc.message
                    if isinstance(exc, MediaError)
                    else f"The {IMAGE_LABELS[kind].lower()} could not be drawn."
                )
                emit(task.pk, "thumbnail_ready", message=reason, data={"kind": kind, "slot": slot, "error": reason})
                continue
            name = task.files.name_of(rendered.path)
            emit(
                task.pk,
                "thumbnail_ready",
                message=f"{IMAGE_LABELS[kind]} ready",
                data=image_data(task, kind=kind, slot=slot, spec=spec, name=name, state=state),
            )
            made += 1
        extra["made"] = made
    return made


def submit_image(pool: Any, task: ProcessingTask, kind: str, slot: int, spec: Any, owner: str | None = None) -> Any:
    """`owner`: the job run's (its close settles the pool's work of that owner); None for a regenerate."""
    from media_pipeline.kit.thumbnails import render
    from media_pipeline.render.fonts import default_fonts

    fonts = default_fonts()
    return pool.submit(
        spec,
        lambda s: render(s, fonts),
        lambda key: task.files.path(TaskFiles.kit_image_name(kind, slot, key)),
        owner=owner,
    )


def next_choice(current: Any, choices: list) -> Any:
    """The choice after `current` in `choices` (round the end to the start)."""
    if not choices:
        return current
    try:
        return choices[(choices.index(current) + 1) % len(choices)]
    except ValueError:
        return choices[0]


def regenerate_image(task_id: str, kind: str, slot: int, change: str) -> str:
    """One kit image again with the next frame or the next text (a django-q job: services.request_kit_image
    checked the request). The frame is usually grabbed already and an image asked for twice is a cache hit."""
    from media_pipeline.kit.frames import grab_frames, score_frame
    from media_pipeline.kit.thumbnails import ImageSpec

    from .ideas import image_pool

    task = ProcessingTask.objects.get(pk=task_id)
    current = next(
        (
            d
            for d in task.kit().get("thumbnails", [])
            if d.get("kind") == kind and d.get("slot") == slot and "frames" in d
        ),
        None,
    )
    if current is None:
        return "missing"
    frame_t, text = float(current["frame_t"]), str(current["title"])
    if change == "frame":
        frame_t = float(next_choice(frame_t, current["frames"]))
    else:
        text = str(next_choice(text, current["texts"]))
    src = task.source_file()
    frames_dir = task.files.path(TaskFiles.KIT_FRAMES)
    never = NeverCancelled()
    try:
        with measured(task.pk, "kit.regenerate", kind=kind, slot=slot, change=change) as extra:
            grabbed = grab_frames(src, [frame_t], out_dir=frames_dir, ffmpeg_bin=settings.FFMPEG_BIN, cancel=never)
            frame = frames_dir / frame_name(frame_t)
            # The face is looked for again (tens of ms): the event keeps the frame times, not their scores.
            focus = score_frame(frame, frame_t).focus if frame_t in grabbed else (0.5, 0.45)
            spec = ImageSpec(
                frame, frame_t, task.content_key or str(task.pk), text, str(current["layout"]), kind, focus=focus
            )
            rendered = result_of(submit_image(image_pool(), task, kind, slot, spec), never)
            extra["cached"] = rendered.cached
    except MediaError as exc:
        emit(
            task.pk,
            "thumbnail_ready",
            message=f"{IMAGE_LABELS[kind]} could not be made again: {exc.message}",
            data={**current, "pending": False},
        )
        return "failed"
    state = {"frames": current["frames"], "texts": current["texts"]}
    name = task.files.name_of(rendered.path)
    emit(
        task.pk,
        "thumbnail_ready",
        message=f"{IMAGE_LABELS[kind]} made again with another {'frame' if change == 'frame' else 'title'}",
        data=image_data(task, kind=kind, slot=slot, spec=spec, name=name, state=state),
    )
    return "cached" if rendered.cached else "rendered"


def start_kit(job: JobRun, *, plan: list[Interval], board: TranscriptBoard, duration: float) -> KitWorker | None:
    """The kit worker of a task with a transcript (None when the kit is off or nothing is transcribed)."""
    if not settings.KIT_ENABLED or not job.task.options.transcribe:
        return None

    def whole_transcript() -> list[Segment]:
        return [seg for iv in plan for seg in board.wait(iv.index, cancel=job.token)]

    return job.start(KitWorker(job, segments=whole_transcript, duration=duration))


def start_kit_from_captions(job: JobRun, captions: Transcript) -> KitWorker | None:
    """The kit of a captions-only YouTube task: chapters and titles from the captions (no video, no images)."""
    if not settings.KIT_ENABLED:
        return None
    duration = max((s.end for s in captions.segments), default=0.0)
    return job.start(KitWorker(job, segments=lambda: list(captions.segments), duration=duration))


def finish_kit(job: JobRun, outcome: OutcomeT) -> OutcomeT:
    """After the final video: wait for the kit, write the chaptered MP4, put the kit's summary in the outcome's
    result; returns the outcome."""
    worker = next((w for w in job.workers if isinstance(w, KitWorker)), None)
    if worker is None:
        return outcome
    result = outcome.result
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
    return outcome
