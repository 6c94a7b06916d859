"""Cutting a job's chunks: one way to render an interval, with or without commentary, and the plain
in-order render for jobs that only cut."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.db import connection

from media_pipeline.plan import Interval
from media_pipeline.probe import MediaInfo
from media_pipeline.process import AnyOf, CancelToken, Signal
from media_pipeline.render.chunk import THUMB_WIDTH, ChunkResult, copies_video, render_chunk, thumbnail_jpeg
from media_pipeline.render.images import Renderable, Rendered, wait_all
from media_pipeline.render.split import Splitter

from .reporter import measured
from .run import JobRun

if TYPE_CHECKING:
    from media_pipeline.render.mix import CommentaryMix


@dataclass(frozen=True)
class ChunkThumb:
    """A chunk's thumbnail as image-pool work: the picture of `src` at `at` (the source at a copied chunk's
    first keyframe), or the first picture of the chunk file `src` (`at` None)."""

    src: Path
    at: float | None

    def key(self) -> str:
        return hashlib.sha256(f"chunk-thumb|{self.src}|{self.at}|{THUMB_WIDTH}".encode()).hexdigest()


class ChunkCutter:
    """Renders the job's intervals into chunk files (and thumbnails), each measured as a `chunk` metric.

    A chunk's thumbnail is drawn in the worker's image pool (render/images.py), submitted urgent so it goes
    ahead of the kit's and the pieces' images: a copied chunk's as the chunk's ffmpeg starts (from the source,
    whose keyframe there is the chunk's first picture), a transcoded one's from the chunk once written. The
    chunk is ready when both are. The pool bounds how many image ffmpegs run beside the chunks' own.

    When the video is copied, one split pass (render/split.py) cuts the whole file at every boundary as
    soon as the cutter exists, and each render takes its interval's piece; with commentary the original
    audio is mixed (and so encoded) instead of copied. Chunks an earlier attempt wrote are kept as they are.
    """

    def __init__(self, job: JobRun, *, src: Path, info: MediaInfo, plan: list[Interval], commentary: bool) -> None:
        self.task, self.src, self.info, self.plan = job.task, src, info, plan
        self.files = job.task.files
        self.splitter: Splitter | None = None
        if info.video_copyable and any(not self.files.chunk(iv.index).exists() for iv in plan):
            self.splitter = Splitter(
                src,
                info,
                plan,
                workdir=job.task.workdir(),
                with_audio=info.audio_copyable and not commentary,
                ffmpeg_bin=settings.FFMPEG_BIN,
                cancel=job.token,
                timeout=120 + 2 * info.duration,
            )

    def done(self, iv: Interval) -> bool:
        """An earlier attempt cut this chunk: it is kept as it is."""
        return self.files.chunk(iv.index).exists()

    def thumbnail(self, iv: Interval, src: Path, at: float | None, cancel: CancelToken) -> Future[Rendered]:
        """The thumbnail of `iv`, submitted to the image pool ahead of other image work."""
        from .ideas import image_pool

        def draw(spec: Renderable) -> bytes:
            thumb = cast(ChunkThumb, spec)
            return thumbnail_jpeg(thumb.src, at=thumb.at, ffmpeg_bin=settings.FFMPEG_BIN, cancel=cancel)

        return image_pool().submit(
            ChunkThumb(src, at),
            draw,
            lambda _key: self.files.thumb(iv.index),
            urgent=True,
            owner=str(self.task.pk),
        )

    def render(self, iv: Interval, *, cancel: CancelToken, mix: CommentaryMix | None = None) -> ChunkResult:
        with measured(self.task.pk, "chunk", index=iv.index, commentary=mix is not None) as extra:
            out = self.files.chunk(iv.index)
            thumb_path = self.files.thumb(iv.index)
            thumb: Future[Rendered] | None = None
            if copies_video(self.info, iv) and not thumb_path.exists():
                thumb = self.thumbnail(iv, self.src, iv.start, cancel)  # drawn while the chunk is cut
            try:  # from here on, whatever raises (the splitter's segment too) drops the thumbnail queued above
                segment = self.splitter.segment(iv.index, cancel=cancel) if self.splitter and not out.exists() else None
                chunk = self._cut(iv, out=out, segment=segment, cancel=cancel, mix=mix)
                if thumb is None and not thumb_path.exists():
                    thumb = self.thumbnail(iv, out, None, cancel)
                thumb_seconds = wait_all([thumb], cancel)[0].seconds if thumb is not None else 0.0
            except BaseException:
                if thumb is not None:
                    thumb.cancel()  # not started yet: never started (one under way sees the cancel)
                raise
            extra.update(
                copied=chunk.copied,
                bytes=chunk.size,
                media_seconds=round(chunk.duration, 3),
                ffmpeg_seconds=round(chunk.seconds, 3),
                thumb_seconds=round(thumb_seconds, 3),
            )
        return replace(chunk, thumbnail=thumb_path)

    def _cut(
        self, iv: Interval, *, out: Path, segment: Path | None, cancel: CancelToken, mix: CommentaryMix | None
    ) -> ChunkResult:
        return render_chunk(
            self.src,
            self.info,
            iv,
            out=out,
            thumbnail=None,
            ffmpeg_bin=settings.FFMPEG_BIN,
            ffprobe=settings.FFPROBE_BIN,
            cancel=cancel,
            is_last=iv.index == len(self.plan) - 1,
            commentary=mix,
            segment=segment,
        )

    def close(self) -> None:
        if self.splitter is not None:
            self.splitter.close()


def render_in_order(job: JobRun, cutter: ChunkCutter) -> Generator[ChunkResult, None, None]:
    """Render chunks CHUNK_CONCURRENCY at a time and yield them in index order, each as soon as it and
    every chunk before it are written (so chunk_ready events, and the playlist, only ever grow in order).

    Each render is an ffmpeg child, so threads are enough to keep the cores busy. The first failure stops
    the other renders and is raised here.
    """
    stop = Signal()
    token = AnyOf(job.token, stop)

    def render(iv: Interval) -> ChunkResult:
        try:
            return cutter.render(iv, cancel=token)
        finally:
            connection.close()  # this thread's connection (the metrics row)

    def stop_on_failure(future: Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            stop.set()  # a later chunk failing stops the others now, not when the loop reaches it

    with ThreadPoolExecutor(max_workers=settings.CHUNK_CONCURRENCY, thread_name_prefix="chunk") as pool:
        futures = [pool.submit(render, iv) for iv in cutter.plan]
        for future in futures:
            future.add_done_callback(stop_on_failure)
        try:
            for future in futures:
                yield future.result()
        finally:
            stop.set()  # a failure, a cancel or an early exit: the rest stop too
            for future in futures:
                future.cancel()
