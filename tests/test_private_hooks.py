"""api/sse.py reaches below asgiref's and Django's public API (`_release_request_thread`): these trip when
what it relies on moves, and make an upgrade of either a deliberate act.

`_release_request_thread` does nothing when the internals are gone, so without these a change would only
show as one idle thread per open stream.
"""

from __future__ import annotations

import contextvars
import inspect
import re
from importlib.metadata import version

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

from api import sse

from .live import ROOT


@pytest.mark.parametrize("package", ["asgiref", "Django"])
def test_it_runs_on_the_exact_versions_the_hook_was_checked_against(package):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE))
    assert package in pins, f"requirements.txt must pin {package} exactly: api/sse.py depends on it"
    assert version(package) == pins[package], (
        f"{package} {version(package)} is installed but {pins[package]} is pinned; re-check api/sse.py"
    )


def test_asgiref_still_keeps_the_thread_sensitive_context_and_its_executors_on_synctoasync():
    assert isinstance(SyncToAsync.thread_sensitive_context, contextvars.ContextVar)
    assert hasattr(SyncToAsync.context_to_thread_executor, "pop")


def test_djangos_asgi_handler_still_runs_each_request_in_a_thread_sensitive_context():
    assert "async with ThreadSensitiveContext():" in inspect.getsource(ASGIHandler.__call__)


async def test_releasing_the_request_thread_shuts_its_executor_down_and_later_calls_still_run():
    async with ThreadSensitiveContext():
        await sync_to_async(lambda: None)()  # the request's middleware, on the context's one thread
        context = SyncToAsync.thread_sensitive_context.get()
        executor = SyncToAsync.context_to_thread_executor[context]

        sse._release_request_thread()

        assert context not in SyncToAsync.context_to_thread_executor
        with pytest.raises(RuntimeError):  # shut down: it takes no more work
            executor.submit(print)
        assert await sync_to_async(lambda: "ran")() == "ran"  # closing the response: a fresh thread
