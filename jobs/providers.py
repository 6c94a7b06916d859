"""The outside services a job may use, built from settings: the chat model that writes commentary and
ideas, the voice that speaks it, the rate limits and caches they share with every other worker.

Each job gets its own `Providers` (its HTTP clients record their calls against the job's metrics), while the
rate limiter, the TTS slots and the result cache live in Redis (scale-out) or in var/ (one machine), so they
hold across every worker process.
"""

from __future__ import annotations

import logging
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from media_pipeline.llm import ChatModel, chat_provider
from media_pipeline.providers.cache import FileResultCache, RedisResultCache, ResultCache
from media_pipeline.providers.http import CallRecord, RetryPolicy
from media_pipeline.providers.ratelimit import BucketStore, FileBucketStore, RateLimiter, RedisBucketStore, Slots
from media_pipeline.providers.registry import Calls
from media_pipeline.tts import SpeechEngine, speech_provider
from media_pipeline.video_gen import VideoGenerator, video_provider
from ops import metrics

from .reporter import record_metric

log = logging.getLogger(__name__)


def bucket_store() -> BucketStore:
    if settings.REDIS_URL:
        return RedisBucketStore(settings.REDIS_URL)
    return FileBucketStore(settings.PROVIDER_STATE_DIR / "buckets")


def result_cache() -> ResultCache:
    if settings.REDIS_URL:
        # One cache for every machine; Redis expires entries itself. ~200 KB per entry at most.
        return RedisResultCache(
            settings.REDIS_URL,
            ttl=settings.RESULT_CACHE_TTL,
            max_entries=max(100, settings.RESULT_CACHE_MAX_BYTES // 20_000),
        )
    return FileResultCache(
        settings.PROVIDER_STATE_DIR / "cache", ttl=settings.RESULT_CACHE_TTL, max_bytes=settings.RESULT_CACHE_MAX_BYTES
    )


def call_recorder(task_id: Any) -> Callable[[CallRecord], None]:
    """Every provider call becomes a PerformanceMetrics row: latency, status, retries, time spent waiting
    for the rate limit. Never the key: CallRecord does not carry headers."""

    def on_call(record: CallRecord) -> None:
        metrics.observe_provider_call(
            provider=record.provider,
            operation=record.operation,
            status=str(record.status) if record.status else (record.error or "error").split(":")[0][:30],
            seconds=record.duration_ms / 1000,
            waited=record.waited_ms / 1000,
        )
        try:
            record_metric(
                task_id,
                f"provider.{record.provider}.{record.operation}",
                duration_ms=record.duration_ms,
                success=record.ok,
                data={
                    "status": record.status,
                    "retries": record.retries,
                    "waited_ms": round(record.waited_ms, 1),
                    "path": record.path,
                    "tokens": record.tokens,
                    "error": record.error[:300],
                },
            )
        except Exception:  # a metrics row must never break the call it measures
            log.warning("could not record a provider call", exc_info=True)

    return on_call


def _retry() -> RetryPolicy:
    return RetryPolicy(max_retries=settings.PROVIDER_MAX_RETRIES)


def chat_model(task_id: Any) -> ChatModel | None:
    """The configured LLM, or None for the offline writers."""
    if settings.LLM_PROVIDER == "offline":
        return None
    limiter = RateLimiter(
        f"llm:{settings.LLM_PROVIDER}",
        rpm=settings.LLM_RPM,
        tpm=settings.LLM_TPM,
        burst=settings.LLM_BURST,
        store=bucket_store(),
    )
    calls = Calls(retry=_retry(), limiter=limiter, on_call=call_recorder(task_id))
    return chat_provider(settings.LLM_PROVIDER).build(settings, calls)


def speech_engine(task_id: Any) -> SpeechEngine:
    """The configured voice. Networked ones share a connection pool per process; this job's calls are
    recorded against it."""
    calls = Calls(retry=_retry(), on_call=call_recorder(task_id))
    return speech_provider(settings.TTS_PROVIDER).build(settings, calls)


def video_generator(task_id: Any) -> VideoGenerator:
    """The configured video-generation service; at most VIDEO_GEN_CONCURRENCY requests in flight across all
    workers (a poll or a download holds a slot only while it is sent)."""
    slots = Slots(f"video:{settings.VIDEO_PROVIDER}", settings.VIDEO_GEN_CONCURRENCY, store=bucket_store())
    calls = Calls(retry=_retry(), slots=slots, on_call=call_recorder(task_id))
    return video_provider(settings.VIDEO_PROVIDER).build(settings, calls)


def tts_slots() -> Slots:
    """At most TTS_CONCURRENCY speech requests in flight, across all workers."""
    return Slots(f"tts:{settings.TTS_PROVIDER}", settings.TTS_CONCURRENCY, store=bucket_store())


def silence_wav(path: Path, seconds: float = 0.1, rate: int = 24000) -> Path:
    """A short silent WAV: a chunk without commentary still goes through the same audio mix, so every
    segment of a commentary playlist has the same audio format."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(b"\0\0" * int(seconds * rate))
    return path


@dataclass
class Providers:
    """What one job uses, built on first use. Nothing to close: their HTTP clients are views of the process's
    shared pools (see media_pipeline.providers.http.pooled_client), which outlive the job."""

    task_id: Any
    _chat: ChatModel | None = field(default=None, init=False)
    _speech: SpeechEngine | None = field(default=None, init=False)
    _built: set = field(default_factory=set, init=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False
    )  # built once, by whichever thread asks first

    @property
    def chat(self) -> ChatModel | None:
        with self._lock:
            if "chat" not in self._built:
                self._chat = chat_model(self.task_id)
                self._built.add("chat")
            return self._chat

    @property
    def speech(self) -> SpeechEngine:
        with self._lock:
            if self._speech is None:
                self._speech = speech_engine(self.task_id)
            return self._speech
