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
2. When the client disconnects, or the request is cancelled, while the view still runs, the thread stays
   busy: it goes back to the idle pool only after it has finished (a no-op queued behind the view on the
   thread's one-worker executor says when). Nothing is ever queued behind a busy thread's work.
3. Requests to async views (server-sent events, api/legacy.py's streams) take Django's own path unchanged.
4. Daphne can hand the app its temp file of the body in the scope (repurposer/daphne_hooks.py) instead
   of the body in messages; the request reads that file, and it is closed when the request ends.

`REPURPOSER_THREAD_PER_REQUEST=1` (repurposer/asgi.py) keeps Django's stock handler, for bench/ops.py's baseline.
"""

from __future__ import annotations

import asyncio
import contextvars
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
from django.urls import Resolver404, get_resolver, set_script_prefix

# The scope key under which daphne_hooks passes the body's temp file (an open binary file at offset 0).
BODY_FILE_KEY = "repurposer.body_file"

# Idle request threads kept for the next requests; more run at once when more requests do.
IDLE_THREADS = 4

# Django's copy of a body that did not come as a file stays in memory up to this size (Django's default).
# Only an upload part may be bigger in memory (settings.FILE_UPLOAD_MAX_MEMORY_SIZE): a classic form upload
# goes to disk at once.
SMALL_BODY_BYTES = 2_621_440

# The scope of the request this task serves (read_body is called by Django's handle with `receive` only).
_scope: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("repurposer_asgi_scope")


class RequestThread:
    """One long-lived thread (a one-worker executor): one request at a time."""

    def __init__(self, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


class RequestThreads:
    """Idle request threads, taken by a request and given back when the thread has finished its work.

    A request never waits for a thread: with none idle a new one starts, and a thread given back when
    IDLE_THREADS are already idle is shut down.
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
        body_file = scope.get(BODY_FILE_KEY)
        _scope.set(scope)
        try:
            if self._async_view(scope):
                async with ThreadSensitiveContext():
                    await self.handle(scope, receive, send)
            else:
                await self.handle_pooled(scope, receive, send)
        finally:
            if body_file is not None:
                body_file.close()  # idempotent; Django's handler closes it too when the request ends normally

    def _async_view(self, scope: dict[str, Any]) -> bool:
        root = scope.get("root_path", "")
        path = (scope["path"].removeprefix(root) if root else scope["path"]) or "/"
        try:
            match = get_resolver().resolve(path)
        except Resolver404:
            return False
        return iscoroutinefunction(match.func)

    async def read_body(self, receive: Callable) -> IO[bytes]:
        """The body's temp file from daphne if it gave one (the body messages are then empty), else Django's
        copy of the messages: in memory up to SMALL_BODY_BYTES, or up to one part for an upload part."""
        scope = _scope.get()
        given = scope.get(BODY_FILE_KEY)
        if scope["method"] == "PUT" and "/uploads/" in scope["path"]:
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
        """Django's ASGIHandler.handle, with `request_started`, the middleware and the view in one thread hop."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        thread = self.threads.take()
        try:
            # Every thread-sensitive call of this request (the chain, a sync streaming body, closing the
            # response) runs on this request's thread.
            async with ThreadSensitiveContext(executor=thread.executor):
                await self._serve(scope, receive, send, request, error_response, body_file)
        finally:
            self.threads.give_back(thread)

    async def _serve(
        self,
        scope: dict[str, Any],
        receive: Callable,
        send: Callable,
        request: HttpRequest | None,
        error_response: HttpResponseBase | None,
        body_file: IO[bytes],
    ) -> None:
        if request is None:
            assert error_response is not None
            await sync_to_async(self._started, thread_sensitive=True)(scope)
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close, thread_sensitive=True)()
            return

        async def process_request() -> HttpResponseBase:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client disconnected during send_response
            return response

        # As Django's handler: watch for a disconnect while the response is made and sent.
        responder = asyncio.create_task(process_request())
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(self.listen_for_disconnect(receive)), responder]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = responder.result()
        except asyncio.CancelledError:
            # The view may still be running on the thread; this runs after it there.
            await sync_to_async(signals.request_finished.send, thread_sensitive=True)(sender=self.__class__)
        else:
            await sync_to_async(response.close, thread_sensitive=True)()
        body_file.close()

    def _started(self, scope: dict[str, Any]) -> None:
        signals.request_started.send(sender=self.__class__, scope=scope)

    def _respond(self, scope: dict[str, Any], request: HttpRequest) -> HttpResponseBase:
        """On the request thread: what Django's sync handler does for one request."""
        self._started(scope)
        response = self.sync_chain.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response
