"""Video-generation providers: one interface (`base.VideoGenerator`), one file per service ending with its
`PROVIDER` spec (see `providers.registry`). A new service is a copy of `veo.py` plus one line below."""

from __future__ import annotations

from ..providers.registry import ProviderSpec, pick
from . import veo
from .base import DownloadProgress, GeneratedClip, VideoGenerator

__all__ = ["VIDEO_PROVIDERS", "DownloadProgress", "GeneratedClip", "VideoGenerator", "video_provider"]

VIDEO_PROVIDERS: dict[str, ProviderSpec[VideoGenerator]] = {spec.name: spec for spec in (veo.PROVIDER,)}


def video_provider(name: str) -> ProviderSpec[VideoGenerator]:
    """The video-generation provider called `name`; ValueError for one there is not."""
    return pick(VIDEO_PROVIDERS, name, "VIDEO")
