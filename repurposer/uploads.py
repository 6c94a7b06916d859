"""Uploads stream to a temp file under MEDIA_ROOT (never into memory) and stop at the size limit."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Like Django's temporary-file handler, but it counts and stops at MAX_UPLOAD_BYTES.

    Behind daphne the ASGI size guard (asgi_limits.BodySizeLimit) already refuses oversize bodies; this
    one covers any other server and marks the request so the view can say what happened.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            self.request.upload_too_large = True
            self.file.close()  # a NamedTemporaryFile: closing deletes it
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)
