"""Free space under MEDIA_ROOT, and the guard that refuses new work when it runs low."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from media_pipeline.errors import DiskFull


def free_bytes(path: Path | None = None) -> int:
    """Free bytes (for an unprivileged writer) on the filesystem holding MEDIA_ROOT."""
    target = Path(path or settings.MEDIA_ROOT)
    while not target.exists() and target != target.parent:
        target = target.parent  # MEDIA_ROOT may not exist yet on a fresh machine
    return shutil.disk_usage(target).free


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GB"


class DiskLow(DiskFull):
    """Free space is under DISK_MIN_FREE_BYTES: nothing new is started until media are deleted."""

    MESSAGE = "The server is short of disk space, so it is not taking new videos right now. Please try again later."


def refuse_if_low() -> None:
    """Raise DiskLow (a 507 for the web, see ops.middleware) when free space is under the threshold."""
    free = free_bytes()
    if free < settings.DISK_MIN_FREE_BYTES:
        raise DiskLow(
            detail=f"{_gib(free)} free under {settings.MEDIA_ROOT}; DISK_MIN_FREE_BYTES is "
            f"{_gib(settings.DISK_MIN_FREE_BYTES)}"
        )
