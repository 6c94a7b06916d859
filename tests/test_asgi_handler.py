"""repurposer/asgi_handler.py: sync views in one hop on a few long-lived request threads, async views as Django does.

Called as an ASGI app with real requests (the views below), no server: what a thread does and when it is free
again is what these check; tests/test_no_stall.py checks what it is for through a real daphne.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading

import pytest
from django.core import signals
from django.db import connection, connections
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from repurposer.asgi_handler import BODY_FILE_KEY, PooledASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)

release = threading.Event()
views_saw: list = []  # (the view's database connection, the size of the body it read)
entered = threading.Event()


def where(request):
    with connection.cursor() as cursor:  # a real query on this thread's connection
        cursor.execute("SELECT 1")
    return HttpResponse(threading.current_thread().name)


def echo(request):
    return HttpResponse(request.body)


def slow(request):
    entered.set()
    release.wait(10)
    return HttpResponse("late")


def slow_query(request):
    """Reads its body and opens a database connection only after `release`: a view still running when its
    request has ended."""
    entered.set()
    release.wait(10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    views_saw.append((connections["default"], len(request.body)))
    return HttpResponse("late")


def stream(request):
    return StreamingHttpResponse(iter([threading.current_thread().name.encode(), b"|", b"end"]))


async def async_view(request):
    await asyncio.sleep(0)
    return HttpResponse(threading.current_thread().name)


urlpatterns = [
    path("where", where),
    path("echo", echo),
    path("slow", slow),
    path("slow-query", slow_query),
    path("stream", stream),
    path("async", async_view),
]


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "Csrf" not in m]
    return PooledASGIHandler()


@pytest.fixture
def finished():
    """The threads `request_finished` was sent on."""
    names: list[str] = []

    def record(**kwargs):
        names.append(threading.current_thread().name)

    signals.request_finished.connect(record)
    yield names
    signals.request_finished.disconnect(record)


def _scope(path: str, method: str = "GET", **extra) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ["127.0.0.1", 1],
        "server": ["testserver", 80],
        **extra,
    }


async def _call(handler, scope, messages=None, *, hold=None):
    """Run one request; returns (status, body). `hold`: an Event set when the request body was taken, after
    which the app sees the client go away."""
    inbox: asyncio.Queue = asyncio.Queue()
    for m in messages or [{"type": "http.request", "body": b"", "more_body": False}]:
        inbox.put_nowait(m)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await handler(scope, inbox.get, send)
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def _settle(handler, idle: int) -> None:
    for _ in range(200):
        if len(handler.threads.idle) == idle:
            return
        await asyncio.sleep(0.01)


async def test_it_serves_sync_views_on_one_reused_request_thread(handler):
    names = set()
    for _ in range(3):
        status, body = await _call(handler, _scope("/where"))
        assert status == 200
        names.add(body.decode())
        await _settle(handler, 1)
    assert len(names) == 1 and names.pop().startswith("request-")
    assert handler.threads.started == 1


async def test_a_sync_streaming_body_and_closing_run_on_the_request_thread(handler):
    status, body = await _call(handler, _scope("/stream"))
    assert status == 200
    name, _, rest = body.decode().partition("|")
    assert name.startswith("request-") and rest == "end"


async def test_concurrent_requests_never_wait_for_a_thread(handler):
    entered.clear()
    release.clear()
    slow_request = asyncio.ensure_future(_call(handler, _scope("/slow")))
    await asyncio.to_thread(entered.wait, 10)
    status, body = await asyncio.wait_for(_call(handler, _scope("/where")), 10)  # while /slow holds its thread
    assert status == 200
    release.set()
    assert (await slow_request)[1] == b"late"
    assert handler.threads.started == 2


async def test_a_thread_whose_client_left_is_not_reused_until_its_view_has_finished(handler):
    entered.clear()
    release.clear()
    inbox: asyncio.Queue = asyncio.Queue()
    inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    request = asyncio.ensure_future(handler(_scope("/slow"), inbox.get, send))
    await asyncio.to_thread(entered.wait, 10)
    inbox.put_nowait({"type": "http.disconnect"})  # the client goes away while the view runs
    await asyncio.sleep(0.2)
    status, body = await _call(handler, _scope("/where"))  # meanwhile another request gets another thread
    assert status == 200
    await _settle(handler, 1)
    assert len(handler.threads.idle) == 1  # that one's; the first is still busy with the view
    status, again = await _call(handler, _scope("/where"))
    assert again == body  # the idle one, not the busy one
    release.set()
    await asyncio.wait_for(request, 10)  # request_finished ran on the thread after the view
    assert sent == []  # nothing was sent to a client that left
    await _settle(handler, 2)
    assert len(handler.threads.idle) == 2 and handler.threads.started == 2


async def test_async_views_take_djangos_own_path(handler):
    status, body = await _call(handler, _scope("/async"))
    assert status == 200
    assert not body.decode().startswith("request-")
    assert handler.threads.started == 0


@pytest.mark.parametrize("root_path, force_script_name", [("/app", None), ("", "/app")])
async def test_an_async_view_below_a_script_prefix_takes_djangos_path(handler, settings, root_path, force_script_name):
    settings.FORCE_SCRIPT_NAME = force_script_name
    status, _ = await _call(handler, _scope("/app/async", root_path=root_path))
    assert status == 200
    assert handler.threads.started == 0


async def test_a_body_file_from_daphne_is_the_body_and_is_closed_at_the_end(handler):
    body_file = tempfile.TemporaryFile()
    body_file.write(b"z" * 300_000)
    body_file.seek(0)
    scope = _scope("/echo", "POST", **{BODY_FILE_KEY: body_file})
    status, body = await _call(handler, scope)
    assert status == 200 and body == b"z" * 300_000
    assert body_file.closed


async def test_a_body_in_messages_is_read_as_before(handler):
    messages = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]
    assert await _call(handler, _scope("/echo", "POST"), messages) == (200, b"abcd")


async def test_a_client_gone_before_the_body_arrived_closes_the_body_file(handler):
    body_file = tempfile.TemporaryFile()
    scope = _scope("/echo", "POST", **{BODY_FILE_KEY: body_file})
    status, _ = await _call(handler, scope, [{"type": "http.disconnect"}])
    assert status is None
    assert body_file.closed


async def _start_slow(handler, scope, inbox):
    """Start a request to a view that waits for `release`; returns its task once the view runs."""
    entered.clear()
    release.clear()
    views_saw.clear()
    inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    request = asyncio.ensure_future(handler(scope, inbox.get, send))
    await asyncio.to_thread(entered.wait, 10)
    return request, sent


def _closed(wrapper) -> bool:
    return wrapper.connection is None


async def test_a_failed_send_still_closes_the_response_on_the_request_thread(handler, finished):
    async def send(message):
        raise OSError("the socket went")

    inbox: asyncio.Queue = asyncio.Queue()
    inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    with pytest.raises(OSError):
        await handler(_scope("/where"), inbox.get, send)
    await _settle(handler, 1)
    assert len(finished) == 1 and finished[0].startswith("request-")  # response.close() ran on the thread


async def test_a_request_cancelled_by_daphne_after_a_disconnect_still_finishes_after_its_view(handler, finished):
    """Daphne cancels the app application_close_timeout after the client left; the view is still running."""
    inbox: asyncio.Queue = asyncio.Queue()
    request, sent = await _start_slow(handler, _scope("/slow-query"), inbox)
    inbox.put_nowait({"type": "http.disconnect"})
    await asyncio.sleep(0.2)  # the handler has seen the disconnect and waits for the view
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert finished == []  # not under the running view
    release.set()
    await _settle(handler, 1)
    assert len(finished) == 1 and finished[0].startswith("request-")
    ((wrapper, _),) = views_saw
    assert _closed(wrapper)  # the thread went back to the pool without its database connection
    assert sent == []


async def test_a_request_cancelled_while_its_view_runs_leaves_no_task_and_keeps_the_body_for_the_view(
    handler, finished
):
    body_file = tempfile.TemporaryFile()
    body_file.write(b"b" * 300_000)
    body_file.seek(0)
    before = asyncio.all_tasks()
    inbox: asyncio.Queue = asyncio.Queue()
    request, sent = await _start_slow(handler, _scope("/slow-query", "POST", **{BODY_FILE_KEY: body_file}), inbox)
    request.cancel()  # daphne stops the app without a disconnect (e.g. the server shuts down)
    with pytest.raises(asyncio.CancelledError):
        await request
    assert asyncio.all_tasks() == before  # neither the responder nor the disconnect listener outlives it
    assert not body_file.closed  # the view has not read it yet
    release.set()
    await _settle(handler, 1)
    ((wrapper, size),) = views_saw
    assert size == 300_000
    assert body_file.closed and _closed(wrapper)
    assert len(finished) == 1 and finished[0].startswith("request-")
