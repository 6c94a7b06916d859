"""Which speech model a job's transcript starts with, and loading it while the video is probed and cut.

A worker holds no model between jobs (ASR_PRELOAD off): a job that transcribes loads the model it needs
when it starts, in `SpeechWarmup`'s thread beside the planning and the first chunk, instead of after them on
the way to the first words; a job that does not transcribe never imports the recogniser.

The spoken language decides the first model: the page's option, else the file's language tag, else Whisper
base detects it on the first piece. Only English goes to tiny.en (English-only) for the first words; so
tiny.en is warmed only when the language is known to be English, base otherwise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.probe import MediaInfo

from .reporter import measured
from .run import JobRun, Worker

if TYPE_CHECKING:
    from media_pipeline.transcript.asr import AsrEngine

log = logging.getLogger(__name__)


def known_language(job: JobRun, info: MediaInfo | None) -> str | None:
    """The spoken language before any recognition (Whisper's code): the page's option, else the file's tag."""
    if job.task.options.speech_language:
        return job.task.options.speech_language
    if info is not None and info.audio_language:
        from media_pipeline.transcript.whisper import tag_language  # cheap: faster_whisper loads with a model

        return tag_language(info.audio_language)
    return None


def load(task_id: Any, engine: AsrEngine) -> None:
    """Load `engine`'s model in this process now, measured as `asr_load` (the row says whether it was
    already there). Raises MediaError with a sentence when the model cannot be loaded."""
    preload = getattr(engine, "preload", None)
    if preload is None:
        return
    with measured(task_id, "asr_load", engine=engine.source) as extra:
        extra["cached"] = bool(getattr(engine, "loaded", False))
        preload()


def needs_recognition(job: JobRun, info: MediaInfo, *, captions: object | None) -> bool:
    """Whether this job's transcript will come from speech recognition with a model to load (no captions
    or subtitles given; the subtitles inside the file are only known later, so a file with some loads the
    model for nothing and frees it when the transcript is done)."""
    task = job.task
    return (
        task.options.transcribe
        and info.has_audio
        and settings.ASR_ENGINE == "whisper"
        and captions is None
        and task.files.sidecar() is None
    )


class SpeechWarmup(Worker):
    """Loads the first model the transcript will use. `TranscriptWorker` makes the same engine and finds
    the model loaded (or waits on the load's lock while it finishes). A failed load is only logged: the
    transcript worker tries again and says what went wrong."""

    label = "speech-warmup"

    def __init__(self, job: JobRun, *, info: MediaInfo) -> None:
        super().__init__(job)
        self.language = known_language(job, info)

    def work(self) -> None:
        from .transcribe import asr_engine, fast_engine

        try:
            # The same owner as the transcript's engines: they find the model loaded and held once, and the
            # transcript's release, or at the latest the job run's close, lets go of it.
            owner = self.job.stop
            engine: AsrEngine | None = fast_engine(owner) if self.language == "en" else None
            engine = engine or asr_engine(owner)
            if engine is None or self.job.token.is_set():
                return
            load(self.job.task.pk, engine)
        except Cancelled:
            pass  # the job ended before the load began: the run's close made sure nothing is loaded for it
        except MediaError as exc:
            log.warning("speech model warm-up of task %s: %s (%s)", self.job.task.pk, exc.message, exc.detail)
        except Exception:
            log.exception("speech model warm-up of task %s crashed", self.job.task.pk)
