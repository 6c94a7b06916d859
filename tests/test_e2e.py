"""End to end: a real daphne and a real qcluster (tests.live.LiveStack) on the test database, driven over
HTTP and WebSocket the way a browser would. Runs on SQLite by default and on PostgreSQL + Redis when
DATABASE_URL / REDIS_URL are set."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import psutil
import pytest
import websockets
from django.db import connection

from jobs.models import ProcessingTask, ProgressUpdate

from . import media
from .live import Client, LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = ("alice", "alice-pass-1234")
OUTSIDER = ("mallory", "mallory-pass-1234")


@pytest.fixture(scope="session")
def long_mpeg4(sample_dir):
    """Not browser-playable, so every chunk is transcoded: about a second of work per 10 s chunk."""
    return media.mpeg4_avi(sample_dir / "long-mpeg4.avi", seconds=120, size="640x360")


@pytest.fixture(scope="session")
def medium_mpeg4(sample_dir):
    return media.mpeg4_avi(sample_dir / "medium-mpeg4.avi", seconds=40, size="640x360")


def login(live: LiveStack, credentials: tuple[str, str]) -> Client:
    return Client(live.base_url).login(*credentials)


def upload(client: Client, path, *, interval: int = 10) -> str:
    r = client.upload(path, interval=interval)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "queued"
    assert body["url"] == f"/tasks/{body['task_id']}/"
    return body["task_id"]


def collect(client: Client, task_id: str, **kwargs) -> list[dict]:
    return asyncio.run(client.events(task_id, **kwargs))


def strip(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "received"}


def task_status(task_id: str) -> str:
    try:
        return ProcessingTask.objects.filter(pk=task_id).values_list("status", flat=True).get()
    finally:
        connection.close()  # also called from a helper thread: leave no connection open there


def ffmpeg_runs(media_root) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline", "status"]):
        try:
            if p.info["name"] == "ffmpeg" and p.info["status"] != psutil.STATUS_ZOMBIE:
                if any(str(media_root) in arg for arg in p.info["cmdline"] or ()):
                    found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_upload_streams_every_chunk_in_order_then_completes(live, owner, h264_file):
    client = login(live, OWNER)
    task_id = upload(client, h264_file, interval=10)

    # Linger past the consumer's 3 s safety poll: nothing may be sent again after `complete`.
    events = collect(client, task_id, timeout=60, linger=3.5)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1)), "every event once, in seq order, from the first"
    assert events[-1]["type"] == "complete", [e["type"] for e in events]
    assert all(e["task"] == task_id for e in events)
    assert [strip(e) for e in events] == [
        row.as_event() for row in ProgressUpdate.objects.filter(task_id=task_id).order_by("seq")
    ], "the socket sent exactly the stored events"

    chunks = [e for e in events if e["type"] == "chunk_ready"]
    task = ProcessingTask.objects.get(pk=task_id)
    assert task.status == ProcessingTask.Status.SUCCEEDED
    assert len(task.result["plan"]) == 3  # 25 s in 10 s intervals, cut on keyframes: 0-10, 10-20, 20-25
    assert [c["data"]["index"] for c in chunks] == [0, 1, 2]
    assert all(c["data"]["count"] == 3 for c in chunks)
    assert all(c["data"]["copied"] for c in chunks), "H.264 source: video stream-copied"
    assert events[-1]["data"]["chunks"] == 3
    assert events[-1]["progress"] == 100
    # Each chunk_ready comes after the previous one and the last one before complete.
    assert max(e["seq"] for e in chunks) < events[-1]["seq"]

    # The playlist lists every chunk, in order, and is closed.
    r = client.http.get(f"/tasks/{task_id}/hls/playlist.m3u8")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = r.text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[-1] == "#EXT-X-ENDLIST"
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in lines
    uris = [line for line in lines if line and not line.startswith("#")]
    assert uris == [c["data"]["url"] for c in chunks]
    durations = [float(m) for m in re.findall(r"^#EXTINF:([\d.]+),", r.text, re.M)]
    assert durations == pytest.approx([c["data"]["duration"] for c in chunks], abs=0.001)
    assert sum(durations) == pytest.approx(25, abs=0.5)

    for uri in uris:  # each segment is served, as MPEG-TS
        seg = client.http.get(uri)
        assert seg.status_code == 200, uri
        assert seg.headers["content-type"] == "video/mp2t"
        assert seg.content[:1] == b"\x47" and len(seg.content) % 188 == 0
    thumb = client.http.get(chunks[0]["data"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"

    # The final MP4 is served with byte ranges.
    final_url = events[-1]["data"]["final_url"]
    assert final_url == f"/tasks/{task_id}/media/final.mp4"
    size = (task.workdir() / "final.mp4").stat().st_size
    r = client.http.get(final_url, headers={"Range": "bytes=0-1023"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 0-1023/{size}"
    assert r.headers["accept-ranges"] == "bytes"
    assert len(r.content) == 1024 and r.content[4:8] == b"ftyp"
    r = client.http.get(final_url, headers={"Range": "bytes=-100"})
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert r.content == (task.workdir() / "final.mp4").read_bytes()[-100:]
    client.close()


def test_a_reconnect_replays_exactly_the_events_after_the_last_seen(live, owner, medium_mpeg4):
    client = login(live, OWNER)
    task_id = upload(client, medium_mpeg4, interval=10)  # 4 transcoded chunks: a few seconds of work

    # Drop the connection at the first chunk, then come back with ?after= while the job is still going:
    # the replayed rows and the live ones must join with no gap and no repeat.
    first = collect(client, task_id, until=("chunk_ready", "complete", "error", "cancelled"), timeout=60)
    assert first[-1]["type"] == "chunk_ready", [e["type"] for e in first]
    assert first[-1]["data"]["index"] == 0
    assert task_status(task_id) == "running"
    rest = collect(client, task_id, after=first[-1]["seq"], timeout=60, linger=0.5)
    joined = first + rest
    assert [e["seq"] for e in joined] == list(range(1, len(joined) + 1)), "no gap and nothing twice"
    assert joined[-1]["type"] == "complete"
    assert [e["data"]["index"] for e in joined if e["type"] == "chunk_ready"] == [0, 1, 2, 3]

    # After the end: replay from a middle event gives exactly the later ones, same content.
    everything = collect(client, task_id, timeout=30)
    assert [strip(e) for e in everything] == [strip(e) for e in joined]
    middle = [e for e in everything if e["type"] == "chunk_ready"][1]["seq"]
    replayed = collect(client, task_id, after=middle, timeout=30, linger=3.5)
    assert [e["seq"] for e in replayed] == [e["seq"] for e in everything if e["seq"] > middle]
    assert [strip(e) for e in replayed] == [strip(e) for e in everything if e["seq"] > middle]

    # Asking for more than there is: nothing, and no error.
    async def nothing_after_the_end():
        async with client.ws_connect(task_id, after=everything[-1]["seq"]) as ws:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1):
                    await ws.recv()

    asyncio.run(nothing_after_the_end())
    client.close()


def test_cancel_stops_a_running_job_and_its_ffmpeg(live, owner, long_mpeg4, media_root):
    client = login(live, OWNER)
    task_id = upload(client, long_mpeg4, interval=10)
    asked = {}

    async def cancel_at_first_chunk(event, got):
        if event["type"] == "chunk_ready" and not asked:
            asked["status"] = await asyncio.to_thread(task_status, task_id)
            asked["at"] = time.time()
            r = await asyncio.to_thread(client.cancel, task_id)
            asked["response"] = r

    events = collect(client, task_id, on_event=cancel_at_first_chunk, timeout=60, linger=1)
    assert asked, "no chunk_ready before the end"
    assert asked["status"] == "running"
    assert asked["response"].status_code == 200 and asked["response"].json() == {"cancel_requested": True}
    types = [e["type"] for e in events]
    assert types.count("cancelled") == 1 and "complete" not in types, types
    cancelled = next(e for e in events if e["type"] == "cancelled")
    assert cancelled is events[-1]
    assert cancelled["received"] - asked["at"] < 5, "cancelled within 5 s"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    task = ProcessingTask.objects.get(pk=task_id)
    assert task.status == ProcessingTask.Status.CANCELLED
    assert task.cancel_requested and task.finished_at is not None
    planned = len(task.result["plan"])
    assert planned == 12
    assert not ffmpeg_runs(media_root), "ffmpeg still running after the cancel"

    # It really stopped: no final video, fewer chunks than planned, and no more appear.
    workdir = task.workdir()
    made = sorted(p.name for p in (workdir / "chunks").glob("*.ts"))
    assert 1 <= len(made) < planned
    assert not (workdir / "final.mp4").exists()
    time.sleep(1)
    assert sorted(p.name for p in (workdir / "chunks").glob("*.ts")) == made
    assert not ffmpeg_runs(media_root)

    # What was made can still be watched: the playlist is closed over the announced chunks.
    r = client.http.get(f"/tasks/{task_id}/hls/playlist.m3u8")
    assert r.status_code == 200 and r.text.rstrip().endswith("#EXT-X-ENDLIST")
    assert r.text.count("#EXTINF:") == types.count("chunk_ready")
    # A second cancel is refused (the task is finished), and the workers are still up.
    assert client.cancel(task_id).json() == {"cancel_requested": False}
    assert all(p.poll() is None for p in live.procs.values())
    client.close()


def test_other_users_and_foreign_origins_are_refused(live, owner, outsider, h264_file):
    client = login(live, OWNER)
    task_id = upload(client, h264_file, interval=10)
    events = collect(client, task_id, timeout=60)
    assert events[-1]["type"] == "complete"
    chunk_url = next(e for e in events if e["type"] == "chunk_ready")["data"]["url"]
    urls = [f"/tasks/{task_id}/", f"/tasks/{task_id}/hls/playlist.m3u8", chunk_url, f"/tasks/{task_id}/media/final.mp4"]
    for url in urls:  # the owner can see all of them…
        assert client.http.get(url).status_code == 200, url

    other = login(live, OUTSIDER)
    for url in urls:  # …another user none
        assert other.http.get(url).status_code == 404, url
    assert other.cancel(task_id).status_code == 404
    assert not ProcessingTask.objects.get(pk=task_id).cancel_requested
    anonymous = httpx.Client(base_url=live.base_url)
    for url in urls:
        r = anonymous.get(url)
        assert r.status_code == 302 and r.headers["location"].startswith("/accounts/login/"), url
    anonymous.close()

    async def closed_with(c: Client, **kwargs) -> tuple[int, list]:
        received = []
        async with c.ws_connect(task_id, **kwargs) as ws:
            with pytest.raises(websockets.ConnectionClosed) as info:
                async with asyncio.timeout(10):
                    while True:
                        received.append(await ws.recv())
        return info.value.rcvd.code, received

    # Another user's socket, and one with no session at all, are closed with 4403 before any event.
    assert asyncio.run(closed_with(other)) == (4403, [])
    assert asyncio.run(closed_with(client, cookies=False)) == (4403, [])

    # A page on another site cannot open the owner's stream with the owner's cookies.
    async def refused():
        with pytest.raises(websockets.InvalidStatus) as info:
            async with client.ws_connect(task_id, origin="http://evil.example"):
                pass
        return info.value.response.status_code

    assert asyncio.run(refused()) == 403
    # The same request from the site itself is fine.
    assert collect(client, task_id, timeout=10)[-1]["type"] == "complete"
    other.close()
    client.close()


def test_a_job_gives_back_every_frame_once_in_sync(live, owner, tmp_path):
    """Through the real queue: a 29.97 fps B-frame source with irregular keyframes and late 44.1 kHz audio
    comes back frame for frame, its playlist adds up to its length, and A/V sync holds at every join."""
    from bench.avsync import compare

    src = media.marked(
        tmp_path / "marked.mp4",
        seconds=36,
        rate="30000/1001",
        audio_rate=44100,
        audio_delay=0.5,
        codec=[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-x264-params",
            "bframes=3:b-pyramid=normal:keyint=250:scenecut=40",
            "-force_key_frames",
            "0,4.1,9.8,13.3,21,28.2,31",
        ],
    )
    client = login(live, OWNER)
    task_id = upload(client, src, interval=10)
    events = collect(client, task_id, timeout=120)
    assert events[-1]["type"] == "complete", events[-1]
    task = ProcessingTask.objects.get(pk=task_id)
    chunks = [e["data"] for e in events if e["type"] == "chunk_ready"]
    assert len(chunks) >= 3 and all(c["copied"] for c in chunks)
    report = compare(task.workdir() / "final.mp4", src, joins=[c["start"] for c in chunks[1:]])
    assert report.identical and report.audio_gaps == 0, report.lines()
    assert abs(report.duration_error) <= report.frame_duration
    assert report.max_offset_shift <= min(report.frame_duration, 1024 / 44100), report.lines()
    playlist = client.http.get(f"/tasks/{task_id}/hls/playlist.m3u8").text
    extinf = [float(x) for x in re.findall(r"#EXTINF:([0-9.]+),", playlist)]
    assert "#EXT-X-ENDLIST" in playlist
    assert abs(sum(extinf) - report.source_duration) <= report.frame_duration
