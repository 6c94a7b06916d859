from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger(__name__)


def _preload_speech_model(**kwargs: Any) -> None:
    """With ASR_PRELOAD on, in a worker process that just started: load the Whisper model in the background
    (about 2 s), so the first job's first words do not wait for it. Off by default: the model would sit in
    every worker, also for jobs that never transcribe. Failures only log: the job reports them properly."""

    def load() -> None:
        try:
            from .transcribe import asr_engine

            engine = asr_engine()
            if engine is not None and hasattr(engine, "preload"):
                engine.preload()
        except Exception:
            log.warning("could not preload the speech model", exc_info=True)

    threading.Thread(target=load, name="asr-preload", daemon=True).start()


def _warm_generate(**kwargs: Any) -> None:
    """In a worker process that just started: what the first "make a video" job needs before its first scene
    (jobs.generate.warm, a fraction of a second in the background). Failures only log."""

    def warm() -> None:
        try:
            from .generate import warm

            warm()
        except Exception:
            log.warning("could not warm up the make-a-video job", exc_info=True)
        finally:
            from django.db import connection

            connection.close()

    threading.Thread(target=warm, name="generate-warm", daemon=True).start()


# glibc's M_MMAP_THRESHOLD (malloc.h): blocks at least this big get their own mapping, unmapped when freed.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024


def _return_big_blocks(**kwargs: Any) -> None:
    """In a worker process that just started: every block of 1 MiB or more gets its own mapping, given back
    to the system when it is freed. glibc's default raises that threshold each time such a block is freed
    (up to 32 MB), so after loading a model (its float16 weights are read whole, then converted to int8)
    the next big buffers land in the heap and stay resident: measured in a probe of a job's steps, 120 MB
    more while base transcribes and 75 MB more after it is released (README). Not glibc: nothing to do."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        post_spawn.connect(_warm_generate, dispatch_uid="jobs-warm-generate")
        post_spawn.connect(_return_big_blocks, dispatch_uid="jobs-return-big-blocks")
        if settings.ASR_ENGINE == "whisper" and settings.ASR_PRELOAD:
            post_spawn.connect(_preload_speech_model, dispatch_uid="jobs-preload-asr")
