"""The media limits of this server, from its settings (read by the pipeline and by a piece's regeneration)."""

from __future__ import annotations

from django.conf import settings

from media_pipeline.probe import Limits


def limits_from_settings() -> Limits:
    return Limits(
        max_duration=settings.MAX_DURATION_SECONDS,
        max_width=settings.MAX_WIDTH,
        max_height=settings.MAX_HEIGHT,
        max_fps=settings.MAX_FPS,
        max_streams=settings.MAX_STREAMS,
    )
