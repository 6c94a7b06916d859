"""Refuse request bodies over the upload limit before Django reads them.

Django's ASGI handler copies the whole body into a spooled temp file before any view or upload handler
runs, so the limit is enforced here: a declared Content-Length over the limit is answered with 413 at once,
and a body without one is counted as it streams and cut off when it passes the limit. (Under daphne,
Twisted has already received the body into a temp file of its own by then; this guard keeps Django from
copying and parsing it; when daphne hands the app that file instead of messages, its size is checked, and
a refused body's file is closed here. Browsers send big files in parts, see jobs.services.receive_upload_part.)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

from .asgi_handler import BODY_FILE_KEY, is_upload_part

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Room for the multipart envelope and the other form fields around the file.
ENVELOPE_BYTES = 64 * 1024


def _limit_message(limit: int) -> bytes:
    gib = limit / 1024**3
    size = f"{gib:.1f} GB" if gib >= 1 else f"{limit / 1024**2:.0f} MB"
    return (f"The file is too large: the limit is {size}. Trim or compress the video and try again.\n").encode()


class BodySizeLimit:
    def __init__(self, app: App, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if is_upload_part(scope):
            limit = 2 * settings.UPLOAD_PART_BYTES + ENVELOPE_BYTES  # one part of an upload, never the file
        else:
            limit = (self.limit or settings.MAX_UPLOAD_BYTES) + ENVELOPE_BYTES
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        body_file = scope.get(BODY_FILE_KEY)  # daphne's temp file of the body (daphne_hooks), messages empty
        if (declared is not None and declared.isdigit() and int(declared) > limit) or (
            body_file is not None and os.fstat(body_file.fileno()).st_size > limit
        ):
            if body_file is not None:
                body_file.close()  # the app, which closes it otherwise, is not called
            return await self._reject(send, limit - ENVELOPE_BYTES)

        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    # Pretend the client went away: Django stops reading and discards what it spooled.
                    return {"type": "http.disconnect"}
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if too_large and not response_started:
            await self._reject(send, limit - ENVELOPE_BYTES)

    async def _reject(self, send: Send, limit: int) -> None:
        body = _limit_message(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
