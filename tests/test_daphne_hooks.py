"""repurposer/daphne_hooks.py reaches below daphne's and Twisted's public API: these trip when what it relies on moves.

What the hooks achieve is tested end to end through a real daphne in test_upload_memory.py; these say *why*
such a test started failing after an upgrade, and make an upgrade a deliberate act.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import tempfile
from importlib.metadata import version

import pytest
from daphne.http_protocol import WebRequest
from daphne.server import Server
from django.db import connection
from twisted.internet import abstract
from twisted.web import http

import repurposer.asgi  # noqa: F401  (installs the hooks)
from jobs.models import ProcessingTask
from repurposer import daphne_hooks
from repurposer.asgi_handler import BODY_FILE_KEY

from .live import ROOT, Client, running_stack


@pytest.mark.parametrize("package", ["daphne", "Twisted"])
def test_it_runs_on_the_exact_versions_the_hooks_were_checked_against(package):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE))
    assert package in pins, f"requirements.txt must pin {package} exactly: repurposer/daphne_hooks.py depends on it"
    assert version(package) == pins[package], (
        f"{package} {version(package)} is installed but {pins[package]} is pinned; re-check repurposer/daphne_hooks.py"
    )


def test_it_is_installed_on_daphnes_classes():
    assert WebRequest._repurposer_patched
    assert Server.handle_reply.__module__ == daphne_hooks.__name__
    assert WebRequest.finish.__module__ == daphne_hooks.__name__


def test_daphne_still_sends_through_server_handle_reply():
    """The app's `send` is `partial(self.handle_reply, protocol)`, looked up when each request starts."""
    assert "send=partial(self.handle_reply, protocol)" in inspect.getsource(Server.create_application)


def test_daphne_still_writes_bodies_without_a_producer():
    """If daphne ever applies back-pressure itself, the hook is redundant (and would register a second producer)."""
    source = inspect.getsource(WebRequest.handle_reply)
    assert 'http.Request.write(self, message.get("body", b""))' in source
    assert "registerProducer" not in inspect.getsource(WebRequest)


def test_twisted_pauses_a_streaming_request_producer_when_the_socket_buffer_fills():
    """The waiter is registered as an IPushProducer on the request; the channel forwards the transport's pause
    and resume to it, and the transport pauses above `bufferSize` and resumes once it has drained."""
    assert "self._requestProducer.pauseProducing()" in inspect.getsource(http.HTTPChannel.pauseProducing)
    assert "self._requestProducer.resumeProducing()" in inspect.getsource(http.HTTPChannel.resumeProducing)
    assert "self.producer.pauseProducing()" in inspect.getsource(abstract.FileDescriptor._maybePauseProducer)
    assert "self.producer.resumeProducing()" in inspect.getsource(abstract.FileDescriptor.doWrite)
    assert "self.unregisterProducer()" in inspect.getsource(http.Request._cleanup)


def test_twisted_still_has_the_form_parse_switch():
    assert "_parsePOSTFormSubmission" in inspect.getsource(http.Request)


async def test_the_waiter_blocks_the_sender_between_pause_and_resume():
    waiter = daphne_hooks.DrainWaiter()
    assert waiter.writable.is_set()
    waiter.pauseProducing()
    assert not waiter.writable.is_set()
    waiter.resumeProducing()
    await waiter.writable.wait()
    waiter.pauseProducing()
    waiter.stopProducing()  # the client went away: the sender must not wait for ever
    await waiter.writable.wait()


@pytest.mark.skipif(os.environ.get("REPURPOSER_DAPHNE_8K_BODIES") == "1", reason="daphne's stock bodies asked for")
def test_daphne_still_reads_request_bodies_in_request_buffer_size_messages():
    """bigger_request_body_messages sets the attribute daphne's protocol reads the body by."""
    assert "buffer_size = self.server.request_buffer_size" in inspect.getsource(WebRequest.process)
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not listening yet
    assert server.request_buffer_size == daphne_hooks.REQUEST_BODY_MESSAGE_BYTES


def test_daphne_still_reads_the_body_from_its_content_file_after_creating_the_application():
    """hand_over_body_files moves `content` to its end in create_application: daphne's read loop must come
    after it, read `self.content`, and stop at a short read (one empty, final message)."""
    source = inspect.getsource(WebRequest.process)
    assert source.index("self.server.create_application") < source.index("chunk = self.content.read(buffer_size)")
    assert "more_body = not (len(chunk) < buffer_size)" in source
    assert "return tempfile.TemporaryFile()" in inspect.getsource(http._getContentFile)


class _Protocol(WebRequest):
    def __init__(self, content):  # no channel: only what create_application reads
        self.content = content


def _server_with(original):
    class Fake:
        create_application = original

    daphne_hooks.hand_over_body_files(Fake, _Protocol)
    return Fake()


def test_the_app_gets_its_own_handle_on_a_spooled_body_and_daphne_queues_nothing(tmp_path):
    content = tempfile.TemporaryFile()
    content.write(b"x" * 200_000)
    content.seek(0)
    seen = {}

    def original(self, protocol, scope):
        seen.update(scope)
        return "queue"

    assert _server_with(original).create_application(_Protocol(content), {"type": "http"}) == "queue"
    given = seen[BODY_FILE_KEY]
    assert content.read() == b""  # daphne's read loop finds nothing more to queue
    assert given.read() == b"x" * 200_000
    given.close()
    content.close()


def test_a_body_held_in_memory_is_sent_in_messages_as_before():
    seen = {}
    _server_with(lambda self, protocol, scope: seen.update(scope) or "q").create_application(
        _Protocol(io.BytesIO(b"small")), {"type": "http"}
    )
    assert BODY_FILE_KEY not in seen


def test_the_body_file_is_closed_when_no_application_comes_up():
    content = tempfile.TemporaryFile()
    content.write(b"y" * 200_000)
    seen = {}

    def fails(self, protocol, scope):
        seen.update(scope)
        raise RuntimeError("no app")

    with pytest.raises(RuntimeError):
        _server_with(fails).create_application(_Protocol(content), {"type": "http"})
    assert seen[BODY_FILE_KEY].closed

    def gone(self, protocol, scope):  # daphne returns None when the connection went meanwhile
        seen.update(scope)

    assert _server_with(gone).create_application(_Protocol(content), {"type": "http"}) is None
    assert seen[BODY_FILE_KEY].closed
    content.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "switch",
    [None, "REPURPOSER_THREAD_PER_REQUEST", "REPURPOSER_DAPHNE_8K_BODIES"],
    ids=["default", "stock-handler", "8k-bodies"],
)
def test_a_1_mb_post_body_arrives_intact_with_each_baseline_switch_alone(switch, media_root, owner, tmp_path):
    """Twisted keeps a body of 100 KB or more in a temp file, which the hand-over gives the app: Django's stock
    handler (REPURPOSER_THREAD_PER_REQUEST=1) ignores it, so the file must then go through messages as before."""
    source = tmp_path / "body.mp4"
    source.write_bytes(os.urandom(1024 * 1024))
    extra_env = {"REPURPOSER_THREAD_PER_REQUEST": "0", "REPURPOSER_DAPHNE_8K_BODIES": "0"}
    if switch:
        extra_env[switch] = "1"
    with running_stack(connection.settings_dict, media_root, queue=False, extra_env=extra_env) as stack:
        with Client(stack.base_url).login("alice", "alice-pass-1234") as client:
            response = client.upload(source)
    assert response.status_code == 201, response.text
    task = ProcessingTask.objects.get(pk=response.json()["task_id"])
    assert task.source_file().read_bytes() == source.read_bytes()
