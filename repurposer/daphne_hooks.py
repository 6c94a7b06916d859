"""Four fixes to daphne's HTTP side, installed by repurposer/asgi.py when daphne is the server.

All reach into daphne and Twisted below their public API, so requirements.txt pins both exactly and
tests/test_daphne_hooks.py trips when what they rely on changes.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import IO, Any


def stop_twisted_parsing_form_bodies(web_request: Any) -> None:
    """Twisted parses every multipart POST body in memory (with the `email` package) to fill
    `request.args`, which daphne never reads: a 107 MB upload cost 1.4 GB of RSS in the web process
    (Twisted issue #4519). Turning that parse off leaves the body in Twisted's temp file, as it should be."""
    original_init = web_request.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    web_request.__init__ = __init__


class DrainWaiter:
    """A Twisted push producer whose only job is to tell the app when the socket has room again.

    Twisted calls pauseProducing when the connection's write buffer passes 64 KB and resumeProducing once
    it is empty; stopProducing when the connection goes. The ASGI send waits on `writable`.
    """

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()

    def pauseProducing(self) -> None:
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()  # nothing more will be written; let the sender see the disconnect and stop


def wait_for_the_client(server: Any, web_request: Any) -> None:
    """Make the ASGI send of a response body wait until the client has taken the previous part.

    Daphne hands every `http.response.body` message straight to Twisted's `Request.write` and registers no
    producer, so Twisted buffers whatever the app sends: an async file stream reads at disk speed, and a
    client reading a 1 GB video at 2 MB/s took daphne from 103 MB to 1.8 GB of RSS. So:

    1. On a response's first body message, register a DrainWaiter on the Twisted request as a push producer.
    2. Before writing each body message, wait until the waiter says the buffer has drained. Waiting *before*
       the write rather than after it lets the app read its next block while the previous one drains, so a
       fast client is as fast as before; at most one message is in Twisted's buffer at a time.
    3. Unregister before the request finishes (Twisted complains about a producer left behind).

    `server.handle_reply` is the coroutine daphne gives the app as `send` (bound when each application
    instance is created, so replacing it on the class reaches every request).
    """
    original_handle_reply = server.handle_reply
    original_finish = web_request.finish

    async def handle_reply(self: Any, protocol: Any, message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.body" and isinstance(protocol, web_request):
            waiter = getattr(protocol, "_repurposer_drain", None)
            if waiter is None and protocol.channel is not None and not protocol.finished:
                waiter = protocol._repurposer_drain = DrainWaiter()
                protocol.registerProducer(waiter, True)
            if waiter is not None:
                await waiter.writable.wait()
        await original_handle_reply(self, protocol, message)

    def finish(self: Any) -> None:
        waiter = getattr(self, "_repurposer_drain", None)
        if waiter is not None and self.producer is waiter and self.channel is not None:
            self.unregisterProducer()
        original_finish(self)

    server.handle_reply = handle_reply
    web_request.finish = finish


# What daphne hands the app per `http.request` message. Daphne has the whole body in Twisted's temp file
# before the app runs and queues all of it at once, so a bigger message holds no more memory, only fewer.
REQUEST_BODY_MESSAGE_BYTES = 1024 * 1024


def bigger_request_body_messages(server: Any, size: int = REQUEST_BODY_MESSAGE_BYTES) -> None:
    """Give the app a request body in `size` messages instead of daphne's 8 KB ones.

    daphne's command line has no option for `Server.request_buffer_size` (8192): an upload part of 8 MB
    became 1024 messages, each read from Twisted's temp file, queued, taken by Django's ASGI handler and
    written to its spooled file, all on the event loop without a pause. Over a 1 GB upload that was 131,072
    rounds of Python on the one thread that also answers every other request: /healthz p99 178 ms during the
    upload on a loaded 2-core machine, against 100 ms asked (tests/test_no_stall.py).
    """
    original_init = server.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.request_buffer_size = max(self.request_buffer_size, size)

    server.__init__ = __init__


def _reopen(content: Any) -> IO[bytes] | None:
    """A handle of its own (own offset) on Twisted's temp file of a body, or None for a body held in memory."""
    try:
        fd = content.fileno()
    except (AttributeError, OSError, ValueError):  # a BytesIO (Twisted keeps bodies under 100 KB in memory)
        return None
    try:
        return open(f"/proc/self/fd/{fd}", "rb")  # noqa: SIM115  (closed by the app when the request ends)
    except OSError:  # no /proc: a duplicate shares the offset, which daphne does not use again (see below)
        return os.fdopen(os.dup(fd), "rb")


def hand_over_body_files(server: Any, web_request: Any) -> None:
    """Give the app Twisted's temp file of a request body instead of copying it through body messages.

    Twisted receives a body of 100 KB or more into a temp file; daphne then reads it all back, on the event
    loop and without a pause, into `http.request` messages, and Django's handler writes them into a spooled
    file of its own, also on the event loop: an 8 MB upload part was 8 MB read and 8 MB copied per part on the
    one thread that answers every other request, and a classic form upload of 1 GB went to disk twice. So:

    1. When daphne creates the application for an HTTP request, reopen the temp file (its own handle and
       offset) and pass it in the scope under asgi_handler.BODY_FILE_KEY.
    2. Move daphne's handle to the end of the file: daphne's read loop then queues one empty, final message.
    3. The handler (repurposer/asgi_handler.py) reads the body from the file and closes it when the request
       ends; if no application comes up (create_application raises, or the client went away first), the
       file is closed here.
    """
    from .asgi_handler import BODY_FILE_KEY

    original_create_application = server.create_application

    @functools.wraps(original_create_application)  # inspect.getsource still shows daphne's (test_daphne_hooks)
    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        body = None
        if isinstance(protocol, web_request) and scope.get("type") == "http":
            body = _reopen(protocol.content)
            if body is not None:
                scope[BODY_FILE_KEY] = body
        try:
            queue = original_create_application(self, protocol, scope)
        except BaseException:
            if body is not None:
                body.close()
            raise
        if body is not None:
            if queue is None:  # the connection went before the app was started: it will never close the file
                body.close()
            else:
                protocol.content.seek(0, os.SEEK_END)
        return queue

    server.create_application = create_application


def install(*, hand_over_bodies: bool) -> None:
    """Install the fixes once, if daphne is importable (it is the server here; tests import the app too).

    `hand_over_bodies`: whether the app reads a body from the file in the scope (asgi_handler's
    PooledASGIHandler does; Django's stock handler ignores the key and would see an empty body).
    """
    try:
        from daphne.http_protocol import WebRequest
        from daphne.server import Server
    except ImportError:  # not running under daphne
        return
    if getattr(WebRequest, "_repurposer_patched", False):
        return
    stop_twisted_parsing_form_bodies(WebRequest)
    wait_for_the_client(Server, WebRequest)
    if os.environ.get("REPURPOSER_DAPHNE_8K_BODIES") != "1":  # bench.ops's baseline only
        bigger_request_body_messages(Server)
        if hand_over_bodies:
            hand_over_body_files(Server, WebRequest)
    WebRequest._repurposer_patched = True
