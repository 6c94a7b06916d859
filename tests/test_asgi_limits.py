"""The upload size guard in front of Django: oversize bodies are refused while they arrive."""

from __future__ import annotations

import tempfile

import pytest

from repurposer.asgi_handler import BODY_FILE_KEY
from repurposer.asgi_limits import ENVELOPE_BYTES, BodySizeLimit


class RecordingApp:
    def __init__(self):
        self.called = False
        self.body = b""

    async def __call__(self, scope, receive, send):
        self.called = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def scope(headers=(), method="POST", path="/", **extra):
    return {"type": "http", "method": method, "path": path, "headers": list(headers), **extra}


async def run(app, scope, chunks):
    sent = []
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_declared_oversize_body_is_refused_before_it_is_read():
    inner = RecordingApp()
    limit = 1000
    sent = await run(
        BodySizeLimit(inner, limit), scope([(b"content-length", str(limit + ENVELOPE_BYTES + 1).encode())]), [b"x"]
    )
    assert not inner.called
    assert sent[0]["status"] == 413
    assert b"too large: the limit is" in sent[1]["body"]


async def test_an_undeclared_body_is_cut_off_when_it_passes_the_limit():
    inner = RecordingApp()
    chunk = b"x" * 16_384
    sent = await run(BodySizeLimit(inner, 1000), scope(), [chunk] * 10)
    assert inner.called and len(inner.body) < len(chunk) * 10
    assert sent[0]["status"] == 413


async def test_a_body_within_the_limit_passes_through():
    inner = RecordingApp()
    sent = await run(BodySizeLimit(inner, 100_000), scope([(b"content-length", b"5")]), [b"hello"])
    assert inner.body == b"hello" and sent[0]["status"] == 200


async def test_an_upload_part_may_not_be_bigger_than_two_parts(settings):
    settings.UPLOAD_PART_BYTES = 1000
    inner = RecordingApp()
    too_big = [(b"content-length", str(2000 + ENVELOPE_BYTES + 1).encode())]
    sent = await run(BodySizeLimit(inner), scope(too_big, method="PUT", path="/uploads/x/"), [b"x"])
    assert not inner.called and sent[0]["status"] == 413
    fine = [(b"content-length", b"1500")]
    sent = await run(BodySizeLimit(inner), scope(fine, method="PUT", path="/uploads/x/"), [b"x" * 1500])
    assert sent[0]["status"] == 200


def _body_file(size: int):
    body_file = tempfile.TemporaryFile()
    body_file.write(b"x" * size)
    body_file.seek(0)
    return body_file


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "file-size"])
async def test_a_refused_body_file_from_daphne_is_closed(declared):
    """The app closes daphne's body file when the request ends; a body refused here never reaches it."""
    inner = RecordingApp()
    body_file = _body_file(1000 + ENVELOPE_BYTES + 1)
    headers = [(b"content-length", str(1000 + ENVELOPE_BYTES + 1).encode())] if declared else []
    sent = await run(BodySizeLimit(inner, 1000), scope(headers, **{BODY_FILE_KEY: body_file}), [b""])
    assert not inner.called and sent[0]["status"] == 413
    assert body_file.closed


@pytest.mark.parametrize(
    "path, root_path",
    [("/uploads/x/", ""), ("/api/uploads/x/", ""), ("/api/uploads/x", ""), ("/app/uploads/x/", "/app")],
)
async def test_every_upload_part_path_has_the_part_limit(settings, path, root_path):
    settings.UPLOAD_PART_BYTES = 1000
    inner = RecordingApp()
    too_big = [(b"content-length", str(2000 + ENVELOPE_BYTES + 1).encode())]
    sent = await run(BodySizeLimit(inner), scope(too_big, "PUT", path, root_path=root_path), [b"x"])
    assert not inner.called and sent[0]["status"] == 413
    sent = await run(BodySizeLimit(inner), scope(too_big, "POST", path.rstrip("x/") + "/", root_path=root_path), [b"x"])
    assert inner.called and sent[0]["status"] == 200  # starting an upload is not a part
