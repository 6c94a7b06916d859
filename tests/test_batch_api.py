"""POST /api/batch, GET /api/batch/<id>, GET /api/batches: a task (or a sentence) per source, shared options,
uploads made with the part protocol by a token, limits reached part-way, the summary, owners only."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from api.models import ApiToken
from jobs.models import Batch, ProcessingTask

from . import media

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(owner):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.create_for(user=owner, name='batch')[1]}"}


def post(client, token, body):
    return client.post("/api/batch", json.dumps(body), content_type="application/json", **token)


def link(i: int) -> str:
    return f"https://www.youtube.com/watch?v=video{i:06d}"


def test_a_bad_source_fails_alone_with_its_sentence(client, token, outsider):
    strangers = ProcessingTask.objects.create(owner=outsider, status="succeeded")
    sources = [link(i) for i in range(18)] + ["https://example.com/not-youtube", str(strangers.pk)]
    r = post(client, token, {"sources": sources, "interval": 20, "ideas": True, "title": "Talks"})
    assert r.status_code == 202, r.content
    body = r.json()
    assert [t["source"] for t in body["tasks"]] == sources
    good, bad_link, foreign = body["tasks"][:18], body["tasks"][18], body["tasks"][19]
    assert all(t["task"]["status"] == "queued" and not t["error"] for t in good)
    assert bad_link["task"] is None and "YouTube" in bad_link["error"] and bad_link["error"].endswith(".")
    assert foreign == {**foreign, "task": None, "error": "There is no upload of yours with this id."}
    assert body["summary"] == {**body["summary"], "total": 20, "queued": 18, "refused": 2, "finished": False}
    batch = Batch.objects.get(pk=body["batch_id"])
    assert batch.title == "Talks"
    tasks = ProcessingTask.objects.filter(batch_items__batch=batch)
    assert tasks.count() == 18 and OrmQ.objects.count() == 18
    assert {(t.options.interval, t.options.ideas) for t in tasks} == {(20, True)}, "shared options"


def test_uploads_made_with_the_part_protocol_join_a_batch(client, token, owner, media_root, tmp_path):
    clip = media.h264_aac(tmp_path / "clip.mp4", seconds=2)
    data = clip.read_bytes()
    r = client.post("/api/uploads", {"filename": "clip.mp4", "size": len(data), "interval": 10}, **token)
    assert r.status_code == 201, r.content
    opened = r.json()
    unfinished = post(client, token, {"sources": [opened["task_id"]]})
    assert unfinished.status_code == 400
    assert unfinished.json()["sources"][0]["error"].startswith("This upload has not finished")
    r = client.put(
        opened["upload_url"],
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
        **token,
    )
    assert r.status_code == 200 and r.json()["complete"], r.content
    done_before = ProcessingTask.objects.get(pk=opened["task_id"])
    r = post(client, token, {"sources": [opened["task_id"]], "interval": 30})
    assert r.status_code == 202, r.content
    item = r.json()["tasks"][0]
    assert item["task"]["task_id"] == opened["task_id"], "a queued upload runs once, in the batch"
    assert ProcessingTask.objects.get(pk=opened["task_id"]).options.interval == 30
    ProcessingTask.objects.filter(pk=done_before.pk).update(status="succeeded")
    r = post(client, token, {"sources": [opened["task_id"]]})
    again = r.json()["tasks"][0]["task"]["task_id"]
    assert again != opened["task_id"] and ProcessingTask.objects.get(pk=again).parent_id == done_before.pk


def test_a_limit_reached_part_way_refuses_only_the_rest(client, token, settings):
    settings.USER_MAX_QUEUED = 3
    r = post(client, token, {"sources": [link(i) for i in range(5)]})
    assert r.status_code == 202
    items = r.json()["tasks"]
    assert [bool(t["task"]) for t in items] == [True, True, True, False, False]
    assert items[3]["error"] == (
        "You already have 3 videos waiting, the most allowed is 3. "
        "Wait for some to finish, or cancel some, then submit again."
    )


def test_the_summary_counts_states_success_rate_and_time(client, token):
    r = post(client, token, {"sources": [link(i) for i in range(4)] + ["nope"]})
    body = r.json()
    ids = [t["task"]["task_id"] for t in body["tasks"][:4]]
    created = Batch.objects.get(pk=body["batch_id"]).created_at
    ProcessingTask.objects.filter(pk=ids[0]).update(status="succeeded", finished_at=created + timedelta(seconds=40))
    ProcessingTask.objects.filter(pk=ids[1]).update(status="failed", finished_at=created + timedelta(seconds=20))
    ProcessingTask.objects.filter(pk=ids[2]).update(status="running", heartbeat_at=timezone.now())
    summary = client.get(f"/api/batch/{body['batch_id']}", **token).json()["summary"]
    assert summary == {
        **summary,
        **{"total": 5, "done": 1, "failed": 1, "running": 1, "queued": 1, "refused": 1, "finished": False},
    }
    assert summary["success_rate"] == round(1 / 3, 3)
    ProcessingTask.objects.filter(pk__in=ids[2:]).update(
        status="succeeded", finished_at=created + timedelta(seconds=90)
    )
    summary = client.get(f"/api/batch/{body['batch_id']}", **token).json()["summary"]
    assert summary["finished"] and summary["total_seconds"] == 90.0 and summary["success_rate"] == 0.6


def test_batches_are_listed_for_their_owner_only(client, token, outsider):
    first = post(client, token, {"sources": [link(1)]}).json()["batch_id"]
    second = post(client, token, {"sources": [link(2)]}).json()["batch_id"]
    listed = client.get("/api/batches", **token).json()
    assert [b["batch_id"] for b in listed["batches"]] == [second, first] and listed["count"] == 2
    theirs = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.create_for(user=outsider)[1]}"}
    assert client.get(f"/api/batch/{first}", **theirs).status_code == 404
    assert client.get("/api/batches", **theirs).json()["batches"] == []


def test_nothing_to_queue_is_a_400_with_every_sentence(client, token):
    r = post(client, token, {"sources": ["nope", ""]})
    assert r.status_code == 400
    assert r.json()["error"] == "None of the sources could be queued."
    assert len(r.json()["sources"]) == 2 and Batch.objects.count() == 0
    assert post(client, token, {"sources": "one"}).status_code == 400


def listing(ids: list[str]) -> bytes:
    """A page with the videos embedded: yt-dlp's generic extractor lists it as a playlist of YouTube videos,
    as its YouTube tab extractor lists a real playlist (which cannot be reached from here)."""
    frames = "".join(f'<iframe src="https://www.youtube.com/embed/{i}"></iframe>' for i in ids)
    return f"<html><head><title>A list</title></head><body>{frames}</body></html>".encode()


def test_a_playlist_link_becomes_its_videos_and_a_long_one_fails_alone(client, token, settings):
    from .fake_youtube import Reply, VideoHost

    short = [f"short{i:06d}" for i in range(4)]
    long = [f"long0{i:06d}" for i in range(6)]
    # YOUTUBE_LIST_URL puts the canonical address, URL-encoded, into the loopback path.
    pages = {
        "/" + quote(f"https://www.youtube.com/playlist?list={list_id}", safe=""): Reply(body=listing(ids))
        for list_id, ids in (("PLshortlist00", short), ("PLlonglist000", long))
    }
    with VideoHost(pages) as host:
        settings.YOUTUBE_LIST_URL = host.url + "/{url}"
        settings.YOUTUBE_EXTRACTORS = ("generic", "youtube")
        settings.PLAYLIST_MAX_VIDEOS = 5
        r = post(
            client,
            token,
            {
                "sources": [
                    "https://www.youtube.com/playlist?list=PLshortlist00",
                    "https://youtu.be/single00000",
                    "https://www.youtube.com/playlist?list=PLlonglist000",
                ]
            },
        )
    assert r.status_code == 202, r.content
    items = r.json()["tasks"]
    assert [t["source"] for t in items] == [
        *(f"https://www.youtube.com/watch?v={i}" for i in short),
        "https://youtu.be/single00000",
        "https://www.youtube.com/playlist?list=PLlonglist000",
    ]
    assert all(t["task"] for t in items[:5])
    assert items[5]["task"] is None and items[5]["error"].startswith("This list has more than 5 videos")
    keys = set(ProcessingTask.objects.values_list("content_key", flat=True))
    assert keys == {f"youtube:{i}" for i in [*short, "single00000"]}


def test_collection_links_are_recognised_and_nothing_else():
    from media_pipeline.ingest.youtube_url import collection_url

    assert (
        collection_url("youtube.com/playlist?list=PL1234567890") == "https://www.youtube.com/playlist?list=PL1234567890"
    )
    assert collection_url("https://www.youtube.com/@SomeChannel") == "https://www.youtube.com/@SomeChannel/videos"
    assert collection_url("https://m.youtube.com/channel/UC1234567890/featured") == (
        "https://www.youtube.com/channel/UC1234567890/videos"
    )
    for other in (
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PL1234567890",  # a video inside a playlist
        "https://evil.example/playlist?list=PL1234567890",
        "https://www.youtube.com:8080/playlist?list=PL1234567890",
        "https://www.youtube.com/playlist?list=<script>",
        "dQw4w9WgXcQ",
    ):
        assert collection_url(other) is None, other
