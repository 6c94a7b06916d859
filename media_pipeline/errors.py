"""Errors the pipeline raises. `MediaError.message` is a sentence for the user; `detail` is for operators."""

from __future__ import annotations

import errno


class MediaError(Exception):
    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Cancelled(Exception):
    """The user asked to stop; raised between steps and when a running subprocess was killed for it."""


# What ffmpeg (strerror) says when a write fails for want of space, and the errnos behind it.
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class DiskFull(MediaError):
    """The server's disk filled up: the operators' problem, so the user is told it is not their file."""

    MESSAGE = (
        "The server ran out of disk space while processing this video. This is not a problem with your file; "
        "please try again later."
    )

    def __init__(self, *, detail: str = "") -> None:
        super().__init__(self.MESSAGE, detail=detail)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from or during, is a write that found the disk full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull) or (isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS):
            return True
        current = current.__cause__ or current.__context__
    return False
