"""Uploads stream to a temp file under MEDIA_ROOT (never into memory) and stop at the size limit."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from media_pipeline.errors import is_disk_full

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Like Django's temporary-file handler, but it counts and stops at MAX_UPLOAD_BYTES.

    Behind daphne the ASGI size guard (asgi_limits.BodySizeLimit) already refuses oversize bodies; this
    one covers any other server and marks the request so the view can say what happened. A full disk
    stops the upload the same way (`request.disk_full`), and the half-written temp file is deleted.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            self._mark_request("upload_too_large")
            self.file.close()  # a NamedTemporaryFile: closing deletes it
            raise StopUpload(connection_reset=True)
        try:
            return super().receive_data_chunk(raw_data, start)
        except OSError as exc:
            self._stop_if_disk_full(exc)
            raise

    def file_complete(self, file_size: int) -> UploadedFile | None:
        try:
            return super().file_complete(file_size)  # flushes what is still buffered
        except OSError as exc:
            self._stop_if_disk_full(exc)
            raise

    def _mark_request(self, flag: str) -> None:
        # An attribute of our own, not one of HttpRequest's: the views read it with getattr(request, flag, False).
        setattr(self.request, flag, True)

    def _stop_if_disk_full(self, exc: OSError) -> None:
        if not is_disk_full(exc):
            return
        self._mark_request("disk_full")
        path = self.file.temporary_file_path()
        with contextlib.suppress(OSError):
            self.file.close()  # its flush fails again, but the file is closed (and deleted) all the same
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        raise StopUpload(connection_reset=True) from exc
