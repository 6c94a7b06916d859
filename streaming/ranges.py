"""Serve a file with HTTP Range support (players seek in MP4s with byte ranges)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 256 * 1024


def _read(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            block = fh.read(min(BLOCK, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block


def serve_file(
    request: HttpRequest, path: Path, *, content_type: str, download_name: str | None = None
) -> HttpResponse:
    size = os.path.getsize(path)
    header = request.headers.get("Range", "").strip()
    match = RANGE_RE.match(header) if header else None
    if header and not match:
        match = None  # multi-range or malformed: answer with the whole file, which is always allowed
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # suffix range: the last N bytes
            start = max(0, size - int(last))
            end = size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = StreamingHttpResponse(_read(path, start, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(open(path, "rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response
