"""Ideas and pieces of a job (jobs side: rows, events, files). The writing is media_pipeline/ideas, the
rendering media_pipeline/render/{reel,carousel}.

An `IdeasWorker` thread starts as soon as the whole transcript is known — for a YouTube link with captions
that is before the video has downloaded — and runs beside the chunking:
1. ideas (one call, or the offline picker) → an `Idea` row and an `idea_ready` event each, as they exist;
2. a piece per idea, IDEAS_CONCURRENCY at a time → `piece_ready` (status ready, or dropped with the reason);
3. each ready piece is rendered, one at a time (a reel waits for the video) → `piece_ready` (status rendered
   with its files, or failed with the reason).
A piece failing never fails the job; the job's result says how many made it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.process import CancelToken
from media_pipeline.transcript.types import Segment

from .layout import TaskFiles
from .models import Idea, ProcessingTask
from .options import JobOptions
from .providers import Providers, result_cache
from .reporter import emit, measured
from .run import JobRun, VideoSource, Worker

if TYPE_CHECKING:
    from media_pipeline.ideas.generate import PieceResult
    from media_pipeline.ideas.schema import Idea as IdeaSpec
    from media_pipeline.ideas.styles import Style
    from media_pipeline.render.images import ImagePool

log = logging.getLogger(__name__)


def style_for(options: JobOptions) -> Style:
    from media_pipeline.ideas.styles import Style

    return Style.from_params({"preset": options.style or "educator", **options.custom_style})


def piece_data(task: ProcessingTask, idea: Idea) -> dict:
    """A piece as the page and the API show it: the row, its files' URLs, the poster URL, the score badge."""
    data = idea.as_dict()
    data["urls"] = {k: task.media_url(v) for k, v in idea.files.items() if isinstance(v, str)}
    if isinstance(idea.files.get("videos"), dict):
        data["urls"]["videos"] = {a: task.media_url(v) for a, v in idea.files["videos"].items()}
    if isinstance(idea.files.get("score"), int | float):
        data["score"] = idea.files["score"]  # the badge on the card
    if "poster" in data["urls"]:
        data["poster"] = data["urls"]["poster"]
    if "slides" in idea.files:
        data["urls"]["slides"] = [task.media_url(s) for s in idea.files["slides"]]
    return data


def render_piece(
    task: ProcessingTask, idea: Idea, *, video: VideoSource, segments: list[Segment], cancel: CancelToken
) -> dict:
    """Write the piece's files; returns Idea.files. Raises MediaError with a sentence when it cannot."""
    from media_pipeline.render.fonts import default_fonts

    files = task.files
    piece = idea.piece
    if idea.kind == Idea.Kind.REEL:
        return _render_reel(task, idea, video=video, segments=segments, cancel=cancel)
    if idea.kind == Idea.Kind.CAROUSEL:
        from media_pipeline.render.carousel import Slide, render_carousel

        slides = [
            Slide(int(s.get("slide_number", i + 1)), str(s.get("heading", "")), str(s.get("text", "")))
            for i, s in enumerate(piece.get("slides", []))
        ]
        out_dir = files.path(TaskFiles.carousel_dir(idea.index, idea.version))
        carousel = render_carousel(
            slides,
            title=str(piece.get("title", idea.title)),
            out_dir=out_dir,
            fonts=default_fonts(),
            pool=image_pool(),
            cache_dir=files.path(TaskFiles.IMAGE_CACHE),
            cancel=cancel,
            owner=str(task.pk),
        )
        return {"slides": [files.name_of(p) for p in carousel.paths], "zip": files.name_of(carousel.zip_path)}
    return {}  # a tweet thread is text: the page has copy buttons


def image_pool() -> ImagePool:
    """The worker process's image pool (render/images.py): slides, posters and the kit's images share it."""
    from media_pipeline.render.images import shared

    return shared(settings.KIT_IMAGE_WORKERS)


def write_poster(
    files: TaskFiles, reel: str, poster: str, *, at: float, cancel: CancelToken, owner: str | None = None
) -> None:
    """The reel's poster frame (file `poster`), grabbed in the image pool as `owner`'s work (a task's id, so its
    job run's close settles it) and cached by the reel and the time."""
    from media_pipeline.render.images import publish, wait_all
    from media_pipeline.render.reel import Poster, poster_jpeg

    cache = files.path(TaskFiles.IMAGE_CACHE)
    future = image_pool().submit(
        Poster(files.path(reel), at),
        lambda p: poster_jpeg(p, ffmpeg_bin=settings.FFMPEG_BIN, cancel=cancel),  # type: ignore[arg-type]
        lambda key: cache / f"poster-{key[:24]}.jpg",
        owner=owner,
    )
    (rendered,) = wait_all([future], cancel)
    publish(rendered.path, files.path(poster))


def _render_reel(
    task: ProcessingTask, idea: Idea, *, video: VideoSource, segments: list[Segment], cancel: CancelToken
) -> dict:
    """The reel in every size the task asks for (one face track and one cut plan shared by all of them), its
    poster frame and its score. Idea.files: {"video": 9:16 or the first size, "videos": {aspect: name},
    "poster", "duration", "score", "reel": {"framing", "cut_seconds"}} (str values are file names)."""
    from media_pipeline.analysis.signal import audio_levels
    from media_pipeline.render import framing
    from media_pipeline.render.cuts import is_filler, plan_cuts
    from media_pipeline.render.fonts import default_fonts
    from media_pipeline.render.reel import captions_from_segments, render_reel

    video.wait(cancel)
    if video.src is None or video.info is None:
        raise MediaError("There is no video to cut this reel from (only the captions were fetched).")
    src, info, options, files, piece = video.src, video.info, task.options, task.files, idea.piece
    start, end = float(piece.get("start", idea.start)), float(piece.get("end", idea.end))
    start, end = max(0.0, start), min(end, info.duration) if info.duration > 0 else end
    words = [(w.start, w.end, w.text) for s in segments if s.end > start and s.start < end for w in s.words]
    cuts = None
    if options.tight_cuts and info.has_audio and end - start >= 0.5:
        levels = audio_levels(src, start=start, end=end, ffmpeg_bin=settings.FFMPEG_BIN, cancel=cancel)
        cuts = plan_cuts(start=start, end=end, levels=list(levels), words=words, fillers=options.cut_fillers)
    speech = [(a - start, b - start) for a, b, _ in words] or None
    track = framing.track_clip(src, start=start, end=end, ffmpeg_bin=settings.FFMPEG_BIN, cancel=cancel)
    captions = captions_from_segments(segments, start=start, end=end, skip=is_filler if options.cut_fillers else None)
    hook = str(piece.get("hook") or idea.title or "")[:120]
    out: dict[str, Any] = {"videos": {}}
    for aspect, width, height in options.reel_sizes:
        name = TaskFiles.reel_name(idea.index, idea.version, aspect)
        reel = render_reel(
            src,
            info,
            start=start,
            end=end,
            out=files.path(name),
            captions=captions,
            mode=options.reel_framing,
            fonts=default_fonts(),
            ffmpeg_bin=settings.FFMPEG_BIN,
            ffprobe=settings.FFPROBE_BIN,
            cancel=cancel,
            width=width,
            height=height,
            caption_preset=options.caption_preset,
            hook=hook,
            track=track,
            cuts=cuts,
            speech=speech,
        )
        out["videos"][aspect] = name
        if "video" not in out:
            out.update(video=name, duration=round(reel.duration, 3), reel={"framing": reel.framing})
            keep = (lambda t: any(a <= start + t <= b for a, b in cuts.keep)) if cuts is not None else None
            best = framing.best_frame(track.samples, keep=keep)
            if best is not None:
                at = cuts.to_output(start + best) if cuts is not None else best
                poster = TaskFiles.poster_name(idea.index, idea.version)
                write_poster(files, name, poster, at=at, cancel=cancel, owner=str(task.pk))
                out["poster"] = poster
    if cuts is not None:
        out["reel"]["cut_seconds"] = round(cuts.removed, 2)
    scores = [
        float(a["score"])
        for a in task.analyses()
        if isinstance(a.get("score"), int | float) and a.get("start", 0) < end and a.get("end", 0) > start
    ]
    if scores:
        out["score"] = round(max(scores))
    return out


class IdeasWorker(Worker):
    """Ideas, pieces and their files for one task, in its own thread (see the module docstring)."""

    label = "ideas"

    def __init__(
        self,
        job: JobRun,
        *,
        segments: Callable[[], list[Segment]],
        duration: float,
        analyses: Callable[[], list[dict]],
    ) -> None:
        super().__init__(job)
        self.task, self.get_segments, self.duration, self.get_analyses = job.task, segments, duration, analyses
        self.video, self.providers, self.cancel = job.video, job.providers, job.token
        self.summary: dict[str, Any] = {}

    def work(self) -> None:
        try:
            self._run()
        except Cancelled:
            self.error = "The job stopped before the content ideas were finished."
        except MediaError as exc:
            log.warning("ideas of task %s failed: %s (%s)", self.task.pk, exc.message, exc.detail)
            self.error = exc.message
        except Exception:
            log.exception("ideas of task %s crashed", self.task.pk)
            self.error = "The content ideas could not be made; the video itself is not affected."
        finally:
            self._settle_pending()

    def _settle_pending(self) -> None:
        """Pieces still pending when the worker ends will not be written by it: say so, so the page shows
        why and their Regenerate button works."""
        reason = self.error or "The job stopped before this piece was made."
        for row in Idea.objects.filter(task=self.task, status=Idea.Status.PENDING):
            row.status, row.errors = Idea.Status.DROPPED, [reason]
            row.save(update_fields=["status", "errors", "updated_at"])
            emit(
                self.task.pk,
                "piece_ready",
                message=f"Piece {row.index + 1} was not made: {reason}",
                data=piece_data(self.task, row),
            )

    def _run(self) -> None:
        from media_pipeline.ideas.generate import generate_ideas_and_pieces

        segments = self.get_segments()
        if self.cancel.is_set():
            raise Cancelled()
        if not any(s.text.strip() for s in segments):
            self.error = "There is no transcript, so there are no content ideas."
            return
        options = self.task.options
        style = style_for(options)
        model = self.providers.chat
        emit(self.task.pk, "stage", message="Writing content ideas" + (f" with {model.provider}" if model else ""))
        renders = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"piece-render-{self.task.pk}")
        rows: dict[int, Idea] = {}
        lock = threading.Lock()

        def on_idea(idea: IdeaSpec) -> None:
            row, _ = Idea.objects.update_or_create(
                task=self.task,
                index=idea.index,
                defaults={
                    "kind": idea.kind,
                    "title": idea.title[:200],
                    "snippet": idea.snippet,
                    "start": idea.start,
                    "end": idea.end,
                    "reason": getattr(idea, "reason", ""),
                    "status": Idea.Status.PENDING,
                    "piece": {},
                    "errors": [],
                    "files": {},
                },
            )
            with lock:
                rows[idea.index] = row
            emit(
                self.task.pk,
                "idea_ready",
                message=f"Idea {idea.index + 1}: {row.get_kind_display()} — {row.title}",
                data=row.as_dict(),
            )

        def render(row: Idea) -> None:
            try:
                with measured(self.task.pk, f"render.{row.kind}", index=row.index) as extra:
                    row.files = render_piece(self.task, row, video=self.video, segments=segments, cancel=self.cancel)
                    extra["files"] = len(row.files)
                row.status = Idea.Status.RENDERED
                message = f"Piece {row.index + 1} rendered: {row.title}"
            except MediaError as exc:
                row.status, row.errors = Idea.Status.FAILED, [exc.message]
                message = f"Piece {row.index + 1} could not be rendered: {exc.message}"
            except Cancelled:
                return
            except Exception:  # a bug must not leave the piece "ready" forever with nobody told
                log.exception("rendering piece %s of task %s crashed", row.index, self.task.pk)
                row.status, row.errors = Idea.Status.FAILED, ["Rendering this piece failed; try Regenerate."]
                message = f"Piece {row.index + 1} could not be rendered."
            try:
                row.save(update_fields=["status", "errors", "files", "updated_at"])
                emit(self.task.pk, "piece_ready", message=message, data=piece_data(self.task, row))
            except Exception:
                log.exception("recording piece %s of task %s failed", row.index, self.task.pk)
            finally:
                connection.close()

        def on_piece(result: PieceResult) -> None:
            with lock:
                row = rows[result.idea_index]
            row.provider = result.provider or "offline"  # one piece may be offline even when a model is set
            row.model = result.model or ""
            if result.ok:
                row.piece, row.status, row.errors = result.piece, Idea.Status.READY, []
                message = f"Piece {row.index + 1} written: {row.title}"
            else:
                row.status, row.errors = Idea.Status.DROPPED, list(result.errors)
                message = f"Piece {row.index + 1} dropped: {'; '.join(result.errors)[:300]}"
            row.save(update_fields=["piece", "status", "errors", "provider", "model", "updated_at"])
            emit(self.task.pk, "piece_ready", message=message, data=piece_data(self.task, row))
            if result.ok and row.kind != Idea.Kind.TWEET:
                renders.submit(render, row)

        try:
            with measured(self.task.pk, "ideas", provider=model.provider if model else "offline") as extra:
                result = generate_ideas_and_pieces(
                    segments=segments,
                    style=style,
                    count=int(options.idea_count),
                    duration=self.duration,
                    analyses=self.get_analyses() or None,
                    model=model,
                    concurrency=settings.LLM_CONCURRENCY,
                    cache=result_cache(),
                    cache_prefix=str(self.task.content_key or ""),
                    force=options.force,
                    on_idea=on_idea,
                    on_piece=on_piece,
                    cancel=self.cancel,
                )
                extra.update(ideas=len(result.ideas), ok=sum(p.ok for p in result.pieces))
        finally:
            renders.shutdown(wait=True)
        # A re-delivered job may have made fewer ideas than the attempt before it: those rows are not this result.
        Idea.objects.filter(task=self.task, index__gte=len(result.ideas)).delete()
        for note in getattr(result, "notes", []) or []:
            emit(self.task.pk, "stage", message=note)
        counts = {s: 0 for s in Idea.Status.values}
        for status in Idea.objects.filter(task=self.task).values_list("status", flat=True):
            counts[status] += 1
        self.summary = {
            "ideas": len(result.ideas),
            **counts,
            "partial": bool(result.partial),
            "provider": model.provider if model else "offline",
        }


def regenerate(idea_id: int) -> str:
    """Write one idea's piece again, bypassing the cache, then render it (a django-q job; see
    services.request_regenerate, which claimed the row and bumped its version)."""
    from media_pipeline.ideas import Idea as IdeaSpec
    from media_pipeline.ideas import regenerate_piece

    row = Idea.objects.select_related("task").get(pk=idea_id)
    task = row.task
    segments = task.transcript()
    duration = float((task.result.get("media") or {}).get("duration") or max((s.end for s in segments), default=0.0))
    providers = Providers(task.pk)
    never = threading.Event()
    try:
        spec = IdeaSpec(
            kind=row.kind,
            title=row.title,
            snippet=row.snippet,
            start=row.start,
            end=row.end,
            reason=row.reason,
            index=row.index,
        )
        with measured(task.pk, "ideas.regenerate", index=row.index):
            result = regenerate_piece(
                idea=spec,
                segments=segments,
                style=style_for(task.options),
                duration=duration,
                model=providers.chat,
                cache=result_cache(),
                force=True,
                cancel=never,
                idea_index=row.index,
                cache_prefix=str(task.content_key or ""),
            )
        row.provider, row.model = result.provider or "offline", result.model or ""
        if not result.ok:
            row.status, row.errors = Idea.Status.DROPPED, list(result.errors)
            row.save(update_fields=["status", "errors", "provider", "model", "updated_at"])
            emit(
                task.pk,
                "piece_ready",
                message=f"Piece {row.index + 1} dropped again: {'; '.join(result.errors)[:300]}",
                data=piece_data(task, row),
            )
            return "dropped"
        # A piece with files stays pending until they exist, so a second Regenerate is refused meanwhile.
        rendering = row.kind != Idea.Kind.TWEET
        row.piece, row.errors, row.files = result.piece, [], {}
        row.status = Idea.Status.PENDING if rendering else Idea.Status.READY
        row.save(update_fields=["piece", "status", "errors", "files", "provider", "model", "updated_at"])
        emit(
            task.pk,
            "piece_ready",
            message=f"Piece {row.index + 1} rewritten: {row.title}",
            data=piece_data(task, row),
        )
        if not rendering:
            return "ready"
        video = VideoSource()
        src = task.source_file() if task.source_path else None
        if src is not None and src.is_file():
            from media_pipeline.probe import probe

            from .limits import limits_from_settings

            video.set(src, probe(src, limits=limits_from_settings(), ffprobe=settings.FFPROBE_BIN))
        else:
            video.set(None, None)
        try:
            row.files = render_piece(task, row, video=video, segments=segments, cancel=never)
            row.status, message = Idea.Status.RENDERED, f"Piece {row.index + 1} rendered: {row.title}"
        except MediaError as exc:
            row.status, row.errors = Idea.Status.FAILED, [exc.message]
            message = f"Piece {row.index + 1} could not be rendered: {exc.message}"
        row.save(update_fields=["status", "errors", "files", "updated_at"])
        emit(task.pk, "piece_ready", message=message, data=piece_data(task, row))
        return row.status
    except Exception:
        # Whatever happened, the row must not stay "pending" forever: say it failed, with a sentence.
        log.exception("regenerating idea %s failed", idea_id)
        Idea.objects.filter(pk=idea_id, status__in=(Idea.Status.PENDING, Idea.Status.READY)).update(
            status=Idea.Status.FAILED, errors=["Regenerating this piece failed; please try again."]
        )
        row.refresh_from_db()
        emit(
            task.pk,
            "piece_ready",
            message=f"Piece {row.index + 1} could not be regenerated.",
            data=piece_data(task, row),
        )
        return "failed"
