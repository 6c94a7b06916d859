"""Django's ASGI handler, with the synchronous views run on a few long-lived request threads.

Django's ASGIHandler builds its middleware chain in async mode, so a request to a sync view hops between
the event loop and a thread at each boundary of the chain, and every request starts a thread of its own
(asgiref's ThreadSensitiveContext) that dies with it. Each hop is a round of Python on the one event loop
that also answers every other request. Here:

1. The sync middleware chain is built once (`load_middleware(is_async=False)`). A request to a sync view
   takes an idle request thread from a small pool and runs `request_started`, the whole chain and the view
   there in one hop; its response is sent from the event loop, and `response.close()` (and any other
   thread-sensitive call the request makes, e.g. a sync streaming body) runs on the same thread, so the
   request's database connection is the one `request_finished` closes.
2. However the request ends (a response sent, a failed send, the client gone, daphne cancelling the app),
   `response.close()` (or `request_finished` when no response came) and closing the body file are queued
   on the request's thread behind the view, by a plain submit that no cancellation can drop; the thread goes
   back to the idle pool only after that has run (a no-op queued behind it says when). A thread whose client
   left stays busy until its view ends; nothing of another request is ever queued behind it.
3. Requests to async views (server-sent events, api/legacy.py's streams) take Django's own path unchanged.
4. Daphne can hand the app its temp file of the body in the scope (repurposer/daphne_hooks.py) instead
   of the body in messages; the request reads that file, and it is closed when the request ends (for a
   sync view, on its thread after the view: never under a view still reading it).

`REPURPOSER_THREAD_PER_REQUEST=1` (repurposer/asgi.py) keeps Django's stock handler, for bench/ops.py's baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import get_resolver, set_script_prefix

logger = logging.getLogger(__name__)

# The scope key under which daphne_hooks passes the body's temp file (an open binary file at offset 0).
BODY_FILE_KEY = "repurposer.body_file"

# Idle request threads kept for the next requests; more run at once when more requests do.
IDLE_THREADS = 4

# Django's copy of a body that did not come as a file stays in memory up to this size (Django's default).
# Only an upload part may be bigger in memory (settings.FILE_UPLOAD_MAX_MEMORY_SIZE): a classic form upload
# goes to disk at once.
SMALL_BODY_BYTES = 2_621_440

# The path (below the script prefix) of one part of a part-by-part upload: repurposer/urls.py's upload-part
# and the API's twin (api/urls.py).
_UPLOAD_PART_PATH = re.compile(r"/(?:api/)?uploads/[^/]+/?")


def path_info(scope: dict[str, Any]) -> str:
    """The request's path as Django's URL resolver sees it (ASGIRequest.path_info): below the script prefix."""
    prefix = get_script_prefix(scope)
    path: str = scope["path"]
    return (path.removeprefix(prefix) if prefix else path) or "/"


def is_upload_part(scope: dict[str, Any]) -> bool:
    """Whether the request is a PUT of one part of a part-by-part upload (jobs.services.receive_upload_part)."""
    return scope.get("method") == "PUT" and _UPLOAD_PART_PATH.fullmatch(path_info(scope)) is not None


# The scope of the request this task serves (read_body is called by Django's handle with `receive` only).
_scope: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("repurposer_asgi_scope")


class RequestThread:
    """One long-lived thread (a one-worker executor): one request at a time."""

    def __init__(self, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


class RequestThreads:
    """Idle request threads, taken by a request and given back when the thread has finished its work.

    A request never waits for a thread: with none idle a new one starts, and a thread given back when
    IDLE_THREADS are already idle is shut down. There is no cap on how many run at once, as with Django's stock
    handler (a thread per request) and daphne (no limit on requests in flight): a burst of N slow requests
    runs N threads. A cap would make a request wait behind views whose clients may have gone; a bound on a
    burst belongs in front (nginx's limit_conn, not configured in deploy/ today).
    """

    def __init__(self, idle: int = IDLE_THREADS) -> None:
        self.keep = idle
        self.idle: list[RequestThread] = []
        self.lock = threading.Lock()
        self.started = 0

    def take(self) -> RequestThread:
        with self.lock:
            if self.idle:
                return self.idle.pop()
            self.started += 1
            return RequestThread(f"request-{self.started}")

    def give_back(self, thread: RequestThread) -> None:
        """Return `thread` once everything already submitted to it has run (it may still be running a view
        whose client went away)."""
        marker: Future[None] = thread.executor.submit(lambda: None)
        marker.add_done_callback(lambda _: self._idle(thread))

    def _idle(self, thread: RequestThread) -> None:
        with self.lock:
            if len(self.idle) < self.keep:
                self.idle.append(thread)
                return
        thread.executor.shutdown(wait=False)


class RequestState:
    """What a request leaves for `_finish` on its thread: set on that thread (or before the view starts)."""

    def __init__(self, body_file: IO[bytes]) -> None:
        self.body_file = body_file
        self.started = False  # request_started was sent, so request_finished is owed
        self.response: HttpResponseBase | None = None
        self.finished = False  # request_finished was sent (by response.close() or directly)


class PooledASGIHandler(ASGIHandler):
    """ASGIHandler whose sync views run in one hop on a pooled request thread (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()  # the async chain, for async views
        self.sync_chain = base.BaseHandler()
        self.sync_chain.load_middleware(is_async=False)
        self.threads = RequestThreads()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        _scope.set(scope)
        if not self._async_view(scope):
            return await self.handle_pooled(scope, receive, send)  # it closes the body file, after the view
        body_file = scope.get(BODY_FILE_KEY)
        try:
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
        finally:
            if body_file is not None:
                body_file.close()  # idempotent; Django's handler closes it too when the request ends normally

    def _async_view(self, scope: dict[str, Any]) -> bool:
        try:
            match = get_resolver().resolve(path_info(scope))
        except Exception:  # a 404, or a URLconf that fails: Django's sync path answers it as it would
            return False
        return iscoroutinefunction(match.func)

    async def read_body(self, receive: Callable) -> IO[bytes]:
        """The body's temp file from daphne if it gave one (the body messages are then empty), else Django's
        copy of the messages: in memory up to SMALL_BODY_BYTES, or up to one part for an upload part."""
        scope = _scope.get()
        given = scope.get(BODY_FILE_KEY)
        if is_upload_part(scope):
            spool_max = settings.FILE_UPLOAD_MAX_MEMORY_SIZE
        else:
            spool_max = min(SMALL_BODY_BYTES, settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        body_file: IO[bytes] = given or tempfile.SpooledTemporaryFile(max_size=spool_max, mode="w+b")
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            if "body" in message and given is None:
                body_file.write(message["body"])
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file

    async def handle_pooled(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        """Django's ASGIHandler.handle, with `request_started`, the middleware and the view in one thread hop.

        However the request ends (a response sent, a failed send, a disconnect, daphne cancelling the app),
        `_finish` is queued on the request's thread behind the view: a plain submit, which no cancellation of
        this coroutine can drop, so the thread never goes back to the pool with its database connection open.
        """
        given = scope.get(BODY_FILE_KEY)
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return  # read_body closed the body file
        except BaseException:
            if given is not None:
                given.close()
            raise
        set_script_prefix(get_script_prefix(scope))
        thread = self.threads.take()
        state = RequestState(body_file)
        try:
            request, error_response = self.create_request(scope, body_file)
            # Every thread-sensitive call of this request (the chain, a sync streaming body) runs on this
            # request's thread.
            async with ThreadSensitiveContext(executor=thread.executor):
                await self._serve(scope, receive, send, request, error_response, state)
        finally:
            finished = thread.executor.submit(self._finish, state)
            self.threads.give_back(thread)
        # A normal end waits for the response to be closed, as Django's handler does (shielded: cancelling this
        # wait does not cancel the close).
        await asyncio.shield(asyncio.wrap_future(finished))

    async def _serve(
        self,
        scope: dict[str, Any],
        receive: Callable,
        send: Callable,
        request: HttpRequest | None,
        error_response: HttpResponseBase | None,
        state: RequestState,
    ) -> None:
        if request is None:
            assert error_response is not None
            await sync_to_async(self._started, thread_sensitive=True)(scope, state)
            state.response = error_response
            await self.send_response(error_response, send)
            return

        async def process_request() -> HttpResponseBase:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, request, state)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client disconnected during send_response
            return response

        # As Django's handler: watch for a disconnect while the response is made and sent.
        responder = asyncio.create_task(process_request())
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(self.listen_for_disconnect(receive)), responder]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Daphne cancelled the app: no task of this request outlives it (the view itself runs on to its end
            # on the thread, and _finish after it).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        with contextlib.suppress(asyncio.CancelledError):  # cancelled: the view may still run on the thread
            responder.result()

    def _started(self, scope: dict[str, Any], state: RequestState) -> None:
        state.started = True
        signals.request_started.send(sender=self.__class__, scope=scope)

    def _respond(self, scope: dict[str, Any], request: HttpRequest, state: RequestState) -> HttpResponseBase:
        """On the request thread: what Django's sync handler does for one request."""
        self._started(scope, state)
        response = self.sync_chain.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        state.response = response
        return response

    def _finish(self, state: RequestState) -> None:
        """On the request thread, after the view: close the response (which sends `request_finished`), or send
        `request_finished` when the request started and no response came; then close the body file."""
        try:
            if state.started and not state.finished:
                state.finished = True
                if state.response is not None:
                    state.response.close()
                else:
                    signals.request_finished.send(sender=self.__class__)
        except Exception:
            logger.exception("Closing the request failed")
        finally:
            state.body_file.close()
