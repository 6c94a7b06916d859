"""The legacy Server-Sent-Events adapters, over rows written with jobs.reporter.emit (seeds 000 and 001)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import AsyncClient

from api import sse
from api.models import ApiToken
from jobs import reporter
from jobs.models import ProcessingTask

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(owner) -> str:
    return ApiToken.create_for(user=owner)[1]


def token_client(key: str) -> AsyncClient:
    # Given as an ASGI header name: AsyncClient(headers=…) turns client-wide headers into WSGI names,
    # which its ASGI requests then drop.
    return AsyncClient(authorization=f"Bearer {key}")


@pytest.fixture
def api(key) -> AsyncClient:
    return token_client(key)


@pytest.fixture
def dummy(tmp_path):
    path = tmp_path / "dummy.mp4"
    path.write_bytes(b"not really a video")
    return path


@pytest.fixture
def task(make_task, dummy):
    return make_task(dummy)


emit = sync_to_async(reporter.emit)


@sync_to_async
def finish(task_id, status: str, event: str, **kwargs) -> None:
    """What the engine does at the end: the status and the final event in one transaction."""
    with transaction.atomic():
        ProcessingTask.objects.filter(pk=task_id).update(status=status, result={"final": "final.mp4"})
        reporter.emit(task_id, event, **kwargs)


def parse(text: str) -> list[dict]:
    """SSE text → [{"id": 3, "event": "status", "data": {...}}, …]; comments and retry lines are dropped."""
    out = []
    for block in text.split("\n\n"):
        fields: dict = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name == "id":
                fields["id"] = int(value)
            elif name == "event":
                fields["event"] = value
            elif name == "data":
                fields["data"] = json.loads(value)
        if "data" in fields:
            out.append(fields)
    return out


class Reader:
    """Reads a streaming response event by event, with a timeout on every wait."""

    def __init__(self, response) -> None:
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/event-stream")
        assert response.is_async, "the stream must be an async iterator (no thread per client)"
        self.chunks = aiter(response.streaming_content)
        self.raw = ""
        self.events: list[dict] = []
        self.ended = False

    async def next_chunk(self, timeout: float = 5) -> str:
        try:
            chunk = await asyncio.wait_for(anext(self.chunks), timeout)
        except StopAsyncIteration:
            self.ended = True
            return ""
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        self.raw += text
        self.events += parse(text)
        return text

    async def until(self, count: int, timeout: float = 5) -> list[dict]:
        while len(self.events) < count and not self.ended:
            await self.next_chunk(timeout)
        return self.events

    async def to_end(self, timeout: float = 5) -> list[dict]:
        while not self.ended:
            await self.next_chunk(timeout)
        return self.events


# --- seed 001: GET /analyze-stream/<task id> -----------------------------------------------------------------


async def test_it_replays_follows_and_ends_after_complete_in_seed_001_shapes(api, task):
    await emit(task.pk, "stage", stage="queued", progress=0, message="Queued; waiting for a worker")
    await emit(
        task.pk,
        "chunk_ready",
        stage="chunk",
        progress=40,
        message="Chunk 1 of 2 ready",
        data={
            "index": 0,
            "start": 0.0,
            "end": 83.5,
            "duration": 83.5,
            "url": "/c/0.ts",
            "has_commentary": True,
            "thumbnail": "/t/0.jpg",
        },
    )
    reader = Reader(await api.get(f"/api/analyze-stream/{task.pk}"))
    first = await reader.until(2)
    assert [e["id"] for e in first] == [1, 2]
    assert first[0]["event"] == "status"
    assert first[0]["data"] == {
        "type": "status",
        "seq": 1,
        "task_id": str(task.pk),
        "progress": 0.0,
        "message": "Queued; waiting for a worker",
        "stage": "queued",
        "event": "stage",
    }
    chunk = first[1]
    assert chunk["event"] == "chunk_ready"
    assert chunk["data"] | {"url": "/c/0.ts"} == chunk["data"]
    assert {k: chunk["data"][k] for k in ("type", "index", "start", "end", "duration", "has_commentary")} == {
        "type": "chunk_ready",
        "index": 0,
        "start": 0.0,
        "end": 83.5,
        "duration": 83.5,
        "has_commentary": True,
    }
    assert chunk["data"]["start_time"] == "00:00:00" and chunk["data"]["end_time"] == "00:01:23"
    assert chunk["data"]["progress"] == 40

    await emit(task.pk, "progress", stage="chunk", progress=60, eta_seconds=12, message="Working")
    await finish(
        task.pk,
        "succeeded",
        "complete",
        stage="done",
        progress=100,
        message="Done.",
        data={"final_url": f"/tasks/{task.pk}/media/final.mp4", "chunks": 2},
    )
    rest = (await reader.to_end())[2:]
    assert [(e["id"], e["event"]) for e in rest] == [(3, "status"), (4, "complete")]
    assert rest[0]["data"]["eta_s"] == 12
    assert (
        rest[1]["data"]
        | {"type": "complete", "chunks": 2, "progress": 100, "final_video": f"/tasks/{task.pk}/media/final.mp4"}
        == rest[1]["data"]
    )
    assert reader.ended, "the stream ends after the task's final event"


async def test_new_events_arrive_on_the_wake_up_not_the_safety_poll(api, task, monkeypatch):
    monkeypatch.setattr(sse, "POLL_SECONDS", 30)
    await emit(task.pk, "stage", stage="queued", message="Queued")
    reader = Reader(await api.get(f"/analyze-stream/{task.pk}"))
    await reader.until(1)
    delays = []
    for i in range(3):
        started = time.monotonic()
        await emit(task.pk, "progress", stage="chunk", progress=10 * i, message=f"live {i}")
        await reader.until(2 + i, timeout=3)
        delays.append(time.monotonic() - started)
    print(f"\nSSE delivery after the row is written: max {max(delays) * 1000:.0f} ms")
    assert max(delays) < 1.0
    await finish(task.pk, "succeeded", "complete")
    assert [e["id"] for e in await reader.to_end()] == [1, 2, 3, 4, 5]


async def test_last_event_id_replays_exactly_the_later_events(api, task):
    for i in range(4):
        await emit(task.pk, "progress", stage="chunk", progress=i * 10, message=f"event {i + 1}")
    await finish(task.pk, "failed", "error", message="The file has no video stream.")
    url = f"/analyze-stream/{task.pk}"
    after_header = await Reader(await api.get(url, headers={"Last-Event-ID": "3"})).to_end()
    assert [e["id"] for e in after_header] == [4, 5]
    assert after_header[-1]["event"] == "error"
    assert after_header[-1]["data"]["message"] == "The file has no video stream."
    after_query = await Reader(await api.get(url, {"last_event_id": "4"})).to_end()
    assert [e["id"] for e in after_query] == [5]
    # Nothing left: 204 tells an EventSource to stop reconnecting.
    assert (await api.get(url, headers={"Last-Event-ID": "5"})).status_code == 204


async def test_a_cancel_ends_a_seed_001_stream_as_an_error_that_says_so(api, task):
    reader = Reader(await api.get(f"/analyze-stream/{task.pk}"))
    await finish(task.pk, "cancelled", "cancelled", message="Cancelled.")
    events = await reader.to_end()
    assert events[-1]["event"] == "error" and events[-1]["data"]["cancelled"] is True


async def test_plain_mode_leaves_out_event_names(api, task):
    await finish(task.pk, "succeeded", "complete", data={"chunks": 0})
    events = await Reader(await api.get(f"/analyze-stream/{task.pk}", {"plain": "1"})).to_end()
    assert events[0]["data"]["type"] == "complete" and "event" not in events[0]


async def test_no_event_from_another_task_ever(api, make_task, dummy, task):
    other = await sync_to_async(make_task)(dummy)
    for i in range(3):
        await emit(other.pk, "progress", message=f"other {i}")
        await emit(task.pk, "progress", message=f"mine {i}")
    reader = Reader(await api.get(f"/analyze-stream/{task.pk}"))
    await reader.until(3)
    await emit(other.pk, "progress", message="other late")
    await finish(task.pk, "succeeded", "complete")
    events = await reader.to_end()
    assert {e["data"]["task_id"] for e in events} == {str(task.pk)}
    assert [e["id"] for e in events] == [1, 2, 3, 4]


async def test_strangers_get_404_and_anonymous_callers_401(make_task, dummy, outsider, task):
    stranger_key = await sync_to_async(lambda: ApiToken.create_for(user=outsider)[1])()
    stranger = token_client(stranger_key)
    for url in (f"/analyze-stream/{task.pk}", f"/api/analyze-stream/{task.pk}", "/analyze-stream/not-a-uuid"):
        response = await stranger.get(url)
        assert response.status_code == 404 and response.json()["error"]
    resumed = await stranger.post("/process-video-stream/", {"task_id": str(task.pk)}, content_type="application/json")
    assert resumed.status_code == 404
    anonymous = await AsyncClient().get(f"/analyze-stream/{task.pk}")
    assert anonymous.status_code == 401 and anonymous.json()["error"]


async def test_a_logged_in_browser_can_listen(owner, task):
    browser = AsyncClient()
    await browser.aforce_login(owner)
    await finish(task.pk, "succeeded", "complete")
    events = await Reader(await browser.get(f"/analyze-stream/{task.pk}")).to_end()
    assert [e["event"] for e in events] == ["complete"]


async def test_an_idle_stream_sends_heartbeats(api, task, monkeypatch):
    monkeypatch.setattr(sse, "HEARTBEAT_SECONDS", 0.1)
    reader = Reader(await api.get(f"/analyze-stream/{task.pk}"))
    while ": keep-alive" not in reader.raw:
        await reader.next_chunk(timeout=2)
    assert reader.events == []


async def test_a_stream_that_cannot_read_gives_up_after_a_few_tries(task, monkeypatch, caplog):
    monkeypatch.setattr(sse, "POLL_SECONDS", 0.01)
    await emit(task.pk, "stage", stage="queued", message="Queued")

    def broken(event, task):
        raise RuntimeError("cannot render")

    got = [text async for text in sse.follow(task.pk, after=0, render=broken)]
    assert got == [f"retry: {sse.RETRY_MS}\n\n"]
    assert caplog.text.count("reading events of task") == sse.MAX_READ_FAILURES


class RawStream:
    """A request straight to the real ASGI application, as daphne makes it, that can hang up."""

    def __init__(self, key: str, path: str) -> None:
        from repurposer.asgi import application

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"localhost"), (b"authorization", f"Bearer {key}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        self.body = b""
        self.first_event = asyncio.Event()
        self.running = asyncio.create_task(application(scope, self.inbox.get, self.send))

    async def send(self, message) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        self.body += message.get("body", b"")
        if b"id: 1" in self.body:
            self.first_event.set()

    async def hang_up(self) -> None:
        await self.inbox.put({"type": "http.disconnect"})
        await asyncio.wait_for(self.running, 3)


def request_threads() -> int:
    """Threads of one-thread executors (what asgiref gives each request for its synchronous middleware)."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor-"))


async def test_the_stream_stops_when_the_client_goes_away(key, task):
    """Through the real ASGI application: a disconnect ends the request at once (nothing keeps polling)."""
    await emit(task.pk, "stage", stage="queued", message="Queued")
    stream = RawStream(key, f"/analyze-stream/{task.pk}")
    await asyncio.wait_for(stream.first_event.wait(), 5)
    await stream.hang_up()
    assert b'"message":"Queued"' in stream.body


async def test_waiting_streams_hold_no_thread_each(key, task):
    await emit(task.pk, "stage", stage="queued", message="Queued")
    before = request_threads()
    streams = [RawStream(key, f"/analyze-stream/{task.pk}") for _ in range(10)]
    await asyncio.wait_for(asyncio.gather(*(s.first_event.wait() for s in streams)), 10)
    deadline = time.monotonic() + 10  # released executors finish their last job and exit
    while request_threads() - before >= 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert request_threads() - before < 3
    for stream in streams:
        await stream.hang_up()


# --- seed 000: POST /process-video-stream/ ---------------------------------------------------------------


async def test_process_video_stream_starts_a_task_and_streams_seed_000_events(api):
    body = {
        "video_id": "dQw4w9WgXcQ",
        "force_regenerate": True,
        "style_preset": "ecommerce_entrepreneur",
        "performance_mode": "fast",
    }
    reader = Reader(await api.post("/process-video-stream/", body, content_type="application/json"))
    first = (await reader.until(1))[0]
    task = await ProcessingTask.objects.aget(pk=first["data"]["task_id"])
    assert task.source == "youtube" and task.params["video_id"] == "dQw4w9WgXcQ" and task.params["force"] is True
    assert task.params.get("style", "ecommerce") == "ecommerce"
    assert first["id"] == 1
    data = first["data"]
    assert data["status"] == "queued" and data["event"] == "progress" and data["progress"] == 0
    assert data["message"] and isinstance(data["timestamp"], float)

    await emit(task.pk, "stage", stage="fetch", progress=1, eta_seconds=30, message="Fetching captions from YouTube")
    await emit(
        task.pk,
        "transcript_ready",
        stage="fetch",
        progress=2,
        message="Transcript ready",
        data={"index": 0, "start": 0, "end": 30, "segments": [{"start": 0, "end": 2, "text": "Hello there."}]},
    )
    await emit(
        task.pk, "idea_ready", stage="ideas", progress=50, message="Idea 1", data={"index": 0, "title": "A reel"}
    )
    await emit(
        task.pk,
        "piece_ready",
        stage="ideas",
        progress=60,
        message="Piece 1",
        data={"index": 0, "content_type": "reel", "title": "A reel"},
    )
    await finish(
        task.pk,
        "succeeded",
        "complete",
        stage="done",
        progress=100,
        message="Done.",
        data={"final_url": f"/tasks/{task.pk}/media/final.mp4", "chunks": 3},
    )
    events = await reader.to_end()
    assert [e["data"]["status"] for e in events] == ["queued", "fetch", "transcript_ready", "idea", "piece", "complete"]
    assert [e["id"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[1]["data"]["estimated_remaining"] == 30
    assert events[3]["data"]["data"] == {"index": 0, "title": "A reel"}
    final = events[-1]["data"]
    assert final["progress"] == 100 and final["task_id"] == str(task.pk)
    result = final["data"]
    assert result["youtube_video_id"] == "dQw4w9WgXcQ" and result["status"] == "completed"
    assert result["ideas"] == [{"index": 0, "title": "A reel"}] and len(result["content_pieces"]) == 1
    assert result["transcript"] == "Hello there." and result["final_video"] == f"/tasks/{task.pk}/media/final.mp4"
    assert reader.ended


async def test_process_video_stream_maps_a_custom_style(api):
    custom = {
        "target_audience": "shop owners",
        "call_to_action": "Visit the shop",
        "content_goal": "sales",
        "tone": "warm",
        "additional_instructions": "Short.",
    }
    body = {"video_id": "dQw4w9WgXcQ", "style_preset": "educator", "custom_style": custom}
    reader = Reader(await api.post("/process-video-stream/", body, content_type="application/json"))
    first = (await reader.until(1))[0]
    task = await ProcessingTask.objects.aget(pk=first["data"]["task_id"])
    # As in seed 000 a custom style wins over the preset; its fields land in ours (ideas are on by default).
    assert task.params["style"] == "custom"
    mapped = {
        "audience": "shop owners",
        "call_to_action": "Visit the shop",
        "goal": "sales",
        "tone": "warm",
        "extra": "Short.",
    }
    assert task.params["custom_style"] | mapped == task.params["custom_style"]


async def test_process_video_stream_resumes_after_last_event_id(api, task):
    for i in range(3):
        await emit(task.pk, "progress", message=f"event {i + 1}")
    await finish(task.pk, "succeeded", "complete")
    response = await api.post(
        "/process-video-stream/",
        {"task_id": str(task.pk)},
        content_type="application/json",
        headers={"Last-Event-ID": "2"},
    )
    events = await Reader(response).to_end()
    assert [e["id"] for e in events] == [3, 4] and ProcessingTask.objects.acount is not None
    assert await ProcessingTask.objects.acount() == 1, "a resume starts nothing"


async def test_process_video_stream_refuses_bad_input_with_a_sentence(api):
    response = await api.post(
        "/process-video-stream/", {"video_id": "https://vimeo.com/1"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["url"] and response.json()["error"].endswith(".")
    assert (await api.get("/process-video-stream/")).status_code == 405
    assert await ProcessingTask.objects.acount() == 0


async def test_process_video_stream_needs_csrf_from_a_browser(owner):
    browser = AsyncClient(enforce_csrf_checks=True)
    await browser.aforce_login(owner)
    response = await browser.post(
        "/process-video-stream/", {"video_id": "dQw4w9WgXcQ"}, content_type="application/json"
    )
    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    assert await ProcessingTask.objects.acount() == 0
