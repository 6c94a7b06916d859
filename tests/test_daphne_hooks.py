"""repurposer/daphne_hooks.py reaches below daphne's and Twisted's public API: these trip when what it relies on moves.

What the hooks achieve is tested end to end through a real daphne in test_upload_memory.py; these say *why*
such a test started failing after an upgrade, and make an upgrade a deliberate act.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version

import pytest
from daphne.http_protocol import WebRequest
from daphne.server import Server
from twisted.internet import abstract
from twisted.web import http

import repurposer.asgi  # noqa: F401  (installs the hooks)
from repurposer import daphne_hooks

from .live import ROOT


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


def test_daphne_still_reads_request_bodies_in_request_buffer_size_messages():
    """bigger_request_body_messages sets the attribute daphne's protocol reads the body by."""
    assert "buffer_size = self.server.request_buffer_size" in inspect.getsource(WebRequest.process)
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not listening yet
    assert server.request_buffer_size == daphne_hooks.REQUEST_BODY_MESSAGE_BYTES
