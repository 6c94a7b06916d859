"""Errors the pipeline raises. `MediaError.message` is a sentence for the user; `detail` is for operators."""

from __future__ import annotations


class MediaError(Exception):
    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Cancelled(Exception):
    """The user asked to stop; raised between steps and when a running subprocess was killed for it."""
