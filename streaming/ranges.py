"""Serve a file with HTTP Range support (players seek in MP4s with byte ranges).

The body is an async generator reading one block at a time in a thread: under ASGI, Django turns a
*sync* iterator (FileResponse included) into a list before sending, which would put a whole 2 GB video
into the web process's memory.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import http_date

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 256 * 1024


async def _read(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(fh.seek, start)
        remaining = length
        while remaining > 0:
            block = await asyncio.to_thread(fh.read, min(BLOCK, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block
    finally:
        fh.close()


def _byte_range(header: str, size: int) -> tuple[int, int] | None | str:
    """(start, end) for a satisfiable single range; None to send the whole file; "416" when unsatisfiable."""
    match = RANGE_RE.match(header.strip()) if header else None
    if not match or not (match.group(1) or match.group(2)):
        return None  # absent, multi-range or malformed: the whole file is always a valid answer
    first, last = match.group(1), match.group(2)
    if not first:  # suffix range: the last N bytes
        return (max(0, size - int(last)), size - 1) if int(last) > 0 and size else "416"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # syntactically invalid: ignore it (RFC 9110 §14.2)
    if start >= size:
        return "416"
    return start, end


def accel_redirect(path: Path, *, content_type: str, download_name: str | None = None) -> HttpResponse | None:
    """With MEDIA_ACCEL_REDIRECT set (nginx in front, deploy/nginx.conf): an empty answer naming the file for
    nginx to send itself, with Range and sendfile. None for a file outside MEDIA_ROOT or without the setting."""
    prefix = settings.MEDIA_ACCEL_REDIRECT
    if not prefix:
        return None
    try:
        relative = Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve())
    except ValueError:
        return None
    response = HttpResponse(content_type=content_type)
    response["X-Accel-Redirect"] = quote(prefix.rstrip("/") + "/" + relative.as_posix())
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response


def serve_file(
    request: HttpRequest, path: Path, *, content_type: str, download_name: str | None = None
) -> HttpResponseBase:
    accelerated = accel_redirect(path, content_type=content_type, download_name=download_name)
    if accelerated is not None:
        return accelerated
    stat = os.stat(path)
    size = stat.st_size
    wanted = _byte_range(request.headers.get("Range", ""), size) if request.method == "GET" else None
    if wanted == "416":
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    response: HttpResponseBase
    if isinstance(wanted, tuple):
        start, end = wanted
        response = StreamingHttpResponse(_read(path, start, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    elif request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        response = StreamingHttpResponse(_read(path, 0, size), content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Last-Modified"] = http_date(stat.st_mtime)
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response
