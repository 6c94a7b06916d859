"""What every video-generation service offers: a prompt in, a checked clip on disk out, with progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..process import CancelToken


@dataclass(frozen=True)
class DownloadProgress:
    bytes: int
    total: int | None  # from Content-Length, when the service sends one
    speed: float  # bytes a second, over the download so far
    eta: float | None  # seconds left, when the total is known

    @property
    def percent(self) -> float | None:
        return None if not self.total else min(100.0, 100.0 * self.bytes / self.total)


@dataclass(frozen=True)
class GenerationProgress:
    stage: str  # "submitted", "generating", "downloading"
    elapsed: float  # seconds since the request was sent
    polls: int = 0
    download: DownloadProgress | None = None


@dataclass(frozen=True)
class GeneratedClip:
    path: Path
    size: int
    duration: float  # probed
    width: int
    height: int
    operation: str  # the service's operation name, for the operator
    seconds: float  # wall time from submit to a checked file


class VideoGenerator(Protocol):
    name: str

    def generate(
        self,
        prompt: str,
        *,
        out: Path,
        aspect: str = "16:9",
        seconds: int = 8,
        negative_prompt: str = "",
        on_progress: Callable[[GenerationProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> GeneratedClip: ...
