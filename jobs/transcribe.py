"""The transcript of a task, interval by interval, beside the chunking (jobs side: events and choices).

Where the words come from, in order: a subtitle file uploaded with the video; a text subtitle stream in
the video; offline speech recognition of each interval (ASR_ENGINE). Every interval's words become a
`transcript_ready` event, the record from which the watch page, the WebVTT track and the downloads are
built — so a reconnecting page replays them like any other event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.plan import Interval
from media_pipeline.probe import MediaInfo
from media_pipeline.process import CancelToken, wait_any
from media_pipeline.transcript.subtitles import extract_embedded, parse_subtitle_file
from media_pipeline.transcript.types import Segment, Transcript

from .models import ProcessingTask
from .reporter import measured
from .run import JobRun, Worker, done_signal, result_of

if TYPE_CHECKING:  # the engines are imported lazily: the models are big
    from media_pipeline.transcript.asr import AsrEngine

log = logging.getLogger(__name__)


def asr_engine() -> AsrEngine | None:
    """The configured speech recogniser, or None when switched off. Imported lazily: the models are big."""
    if settings.ASR_ENGINE == "whisper":
        from media_pipeline.transcript import whisper_model
        from media_pipeline.transcript.whisper import WhisperEngine

        user = Path(settings.WHISPER_MODEL_DIR) if settings.WHISPER_MODEL_DIR else None
        model = whisper_model.resolve(cache_dir=settings.MODEL_CACHE_DIR / "whisper-base", user_folder=user)
        return WhisperEngine(model, num_workers=settings.ASR_LANES)
    if settings.ASR_ENGINE == "pocketsphinx":
        from media_pipeline.transcript.sphinx import PocketsphinxEngine

        return PocketsphinxEngine()
    return None


def whole_transcript(task: ProcessingTask, src: Path, cancel: CancelToken) -> Transcript | None:
    """A transcript that exists before any recognition: uploaded subtitles, then subtitles in the file."""
    sidecar = task.files.sidecar()
    if sidecar is not None:
        return parse_subtitle_file(sidecar.read_bytes(), source="subtitles:sidecar")
    return extract_embedded(src, ffmpeg_bin=settings.FFMPEG_BIN, ffprobe=settings.FFPROBE_BIN, cancel=cancel)


def whole_label(transcript: Transcript) -> str:
    if transcript.source.startswith("youtube:"):
        kind = {"manual": "captions", "auto": "automatic captions", "translated": "captions translated to English"}
        return f"YouTube {kind.get(transcript.source.split(':', 1)[1], 'captions')} ({transcript.language})"
    return "subtitles uploaded with the video" if transcript.source.endswith("sidecar") else "subtitles in the file"


def asr_pieces(plan: list[Interval], first_piece: float) -> list[Interval]:
    """What speech recognition works on: the plan's intervals, the first one split after `first_piece`
    seconds so the first words arrive quickly. A piece keeps the index of its interval."""
    pieces = list(plan)
    head = plan[0] if plan else None
    if head is not None and first_piece > 0 and head.duration > first_piece * 2:
        cut = head.start + first_piece
        pieces[0:1] = [replace(head, end=cut), replace(head, start=cut, starts_on_keyframe=False)]
    return pieces


class TranscriptWorker(Worker):
    """Transcribes the plan's intervals in order in its own thread, while the chunks are cut.

    `announce(interval, segments, source, label)` is called for each interval (it emits the event);
    a failure is kept in `error` and degrades the transcript only, never the job. `on_end()` is called when
    no more words will come (so whoever waits for an interval's words stops waiting).
    """

    label = "transcript"

    def __init__(
        self,
        job: JobRun,
        *,
        src: Path,
        info: MediaInfo,
        plan: list[Interval],
        announce: Callable[[Interval, list[Segment], str, str], None],
        on_end: Callable[[], None],
        captions: Transcript | None = None,
    ) -> None:
        super().__init__(job)
        self.task, self.src, self.info, self.plan, self.cancel = job.task, src, info, plan, job.token
        self.pieces = asr_pieces(plan, settings.ASR_FIRST_PIECE_SECONDS)
        self.announce, self.on_end = announce, on_end
        self.captions = captions  # YouTube's, fetched before the download
        self.source = ""

    def work(self) -> None:
        try:
            self._run()
        except Cancelled:
            pass
        except MediaError as exc:
            log.warning("transcript of task %s failed: %s (%s)", self.task.pk, exc.message, exc.detail)
            self.error = exc.message
        except Exception:
            log.exception("transcript of task %s crashed", self.task.pk)
            self.error = "The transcript could not be made; the video itself is not affected."
        finally:
            self.on_end()

    def _run(self) -> None:
        done = self.task.transcribed_starts()  # pieces whose words an earlier attempt already announced
        whole = self.captions or whole_transcript(self.task, self.src, self.cancel)
        if whole is not None:
            self.source = whole.source
            label = whole_label(whole)
            for iv in self.plan:
                if round(iv.start, 3) not in done:
                    self.announce(iv, whole.between(iv.start, iv.end), whole.source, label)
            return
        if not self.info.has_audio:
            self.error = "This video has no sound, so there is no transcript."
            return
        engine = asr_engine()
        if engine is None:
            self.error = "Speech recognition is switched off on this server (ASR_ENGINE=off)."
            return
        from media_pipeline.transcript.asr import clamp_segments, read_pcm

        self.source = engine.source
        pieces = [p for p in self.pieces if round(p.start, 3) not in done]

        def transcribe(piece: Interval) -> list[Segment]:
            try:
                with measured(self.task.pk, "transcribe", index=piece.index, engine=engine.source) as extra:
                    pcm = read_pcm(
                        self.src, piece.start, piece.duration, cancel=self.cancel, ffmpeg=settings.FFMPEG_BIN
                    )
                    segments = clamp_segments(engine.transcribe(pcm, offset=piece.start), piece.start, piece.end)
                    extra.update(media_seconds=round(piece.duration, 3), words=sum(len(s.words) for s in segments))
                return segments
            finally:
                connection.close()

        # Lanes transcribe pieces side by side; the words are announced in order, each piece as soon as
        # it and every piece before it are done.
        pool = ThreadPoolExecutor(max_workers=settings.ASR_LANES, thread_name_prefix="asr")
        futures = []
        try:
            if pieces and pieces[0].start == 0:
                # The short first piece runs alone: the first words are what a viewer waits for.
                futures.append((pieces[0], pool.submit(transcribe, pieces[0])))
                wait_any(done_signal(futures[0][1]), self.cancel)
                pieces = pieces[1:]
            futures += [(piece, pool.submit(transcribe, piece)) for piece in pieces]
            for piece, future in futures:
                self.announce(piece, result_of(future, self.cancel), engine.source, engine.label)
        finally:
            for _, future in futures:
                future.cancel()
            # Stopped: do not wait for a piece the model is still decoding (that cannot be interrupted, and on
            # a busy machine takes seconds); its lane ends when the piece does, and nobody reads its words.
            pool.shutdown(wait=not self.cancel.is_set())
