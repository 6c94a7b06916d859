""" "My videos", its row fragment and buttons, the batch page and the upload page's batch form: filters, search,
pages, owners only, POST with CSRF, and the batch made the way POST /api/batch makes it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Batch, BatchItem, ProcessingTask
from repurposer.dashboard import PAGE_SIZE

from . import media
from .test_batch_api import listing

pytestmark = pytest.mark.django_db


def titles(response) -> list[str]:
    return [row.task.title for row in response.context["rows"]]


def config(response) -> dict:
    html = response.content.decode()
    return json.loads(re.search(r'id="dashboard-config" type="application/json">(.*?)</script>', html, re.S)[1])


@pytest.fixture
def tasks(owner):
    now = timezone.now()
    made = {}
    for i, (title, status, kind) in enumerate(
        [
            ("Keynote talk", "running", "chunks"),
            ("Podcast 12", "succeeded", "chunks"),
            ("Match highlights", "failed", "chunks"),
            ("Why the sky is blue", "queued", "generate"),
        ]
    ):
        made[title] = ProcessingTask.objects.create(
            owner=owner, title=title, status=status, kind=kind, created_at=now - timedelta(minutes=10 - i)
        )
    return made


def test_it_lists_the_users_tasks_newest_first_with_a_live_start(alice, tasks, outsider):
    ProcessingTask.objects.create(owner=outsider, title="Mallory's secret")
    from jobs.reporter import emit

    newest = emit(tasks["Podcast 12"].pk, "progress", progress=50).id
    r = alice.get(reverse("task-list"))
    assert titles(r) == ["Why the sky is blue", "Match highlights", "Podcast 12", "Keynote talk"]
    assert "Mallory" not in r.content.decode()
    live = config(r)
    assert live["ws"] == "/ws/tasks/" and live["after"] == newest and live["first_page"] is True
    assert live["row"] == "/tasks/{id}/row/"


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status": "failed"}, ["Match highlights"]),
        ({"kind": "generate"}, ["Why the sky is blue"]),
        ({"q": "TALK"}, ["Keynote talk"]),
        ({"q": "podcast", "status": "running"}, []),
        ({"status": "nonsense"}, ["Why the sky is blue", "Match highlights", "Podcast 12", "Keynote talk"]),
    ],
)
def test_it_filters_by_status_kind_and_title(alice, tasks, query, expected):
    r = alice.get(reverse("task-list"), query)
    assert titles(r) == expected
    if not expected:
        assert "No video matches these filters" in r.content.decode()


def test_it_filters_by_batch_and_links_the_batch(alice, owner, tasks):
    batch = Batch.objects.create(owner=owner, title="Talks")
    BatchItem.objects.create(batch=batch, position=0, source="x", task=tasks["Podcast 12"])
    r = alice.get(reverse("task-list"), {"batch": str(batch.pk)})
    assert titles(r) == ["Podcast 12"]
    assert f'href="/batches/{batch.pk}/"' in r.content.decode()
    assert config(r)["filters"] == f"batch={batch.pk}"


def test_it_pages_twenty_at_a_time_keeping_the_filters(alice, owner):
    now = timezone.now()
    for i in range(PAGE_SIZE + 3):
        ProcessingTask.objects.create(owner=owner, title=f"clip {i:02d}", created_at=now - timedelta(seconds=i))
    first = alice.get(reverse("task-list"), {"q": "clip"})
    assert len(titles(first)) == PAGE_SIZE and titles(first)[0] == "clip 00"
    assert 'href="?q=clip&amp;page=2"' in first.content.decode()
    second = alice.get(reverse("task-list"), {"q": "clip", "page": 2})
    assert titles(second) == ["clip 20", "clip 21", "clip 22"]
    assert config(second)["first_page"] is False
    assert titles(alice.get(reverse("task-list"), {"q": "clip", "page": 99})) == titles(second)


def test_the_row_fragment_is_the_owners_and_follows_the_filters(alice, client, outsider, tasks):
    task = tasks["Keynote talk"]
    url = reverse("task-row", args=[task.pk])
    r = alice.get(url)
    assert r.status_code == 200 and r.templates[0].name == "tasks/_task_row.html"
    html = r.content.decode()
    assert f'id="task-{task.pk}"' in html and 'data-status="running"' in html and "Keynote talk" in html
    assert alice.get(url, {"status": "failed"}).status_code == 204  # not on the page that asks
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_a_row_shows_the_first_picture_length_stage_and_time_left(alice, owner, media_root):
    task = ProcessingTask.objects.create(
        owner=owner,
        title="With a picture",
        status="running",
        stage="chunk",
        progress=42.7,
        eta_seconds=150,
        result={"media": {"duration": 3725.2}},
    )
    task.files.thumb(0).parent.mkdir(parents=True)
    task.files.thumb(0).write_bytes(b"\xff\xd8\xff")
    html = alice.get(reverse("task-row", args=[task.pk])).content.decode()
    assert f'src="/tasks/{task.pk}/media/thumbs/00000.jpg"' in html
    assert "1:02:05" in html and "Cut chunks" in html and "42 %" in html and "about 2 min left" in html
    assert 'aria-valuenow="42"' in html


def test_the_buttons_post_with_csrf_and_act_on_the_owners_task(owner, outsider, make_task, h264_file):
    task = make_task(h264_file)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.post(reverse("cancel", args=[task.pk])).status_code == 403  # no token
    assert browser.get(reverse("cancel", args=[task.pk])).status_code == 405
    page = browser.get(reverse("task-list"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    r = browser.post(reverse("cancel", args=[task.pk]), {"csrfmiddlewaretoken": token, "next": "/tasks/?q=x"})
    assert r.status_code == 302 and r["Location"] == "/tasks/?q=x"
    task.refresh_from_db()
    assert task.status == "cancelled"

    r = browser.post(
        reverse("task-reprocess", args=[task.pk]), {"csrfmiddlewaretoken": token}, HTTP_ACCEPT="application/json"
    )
    assert r.status_code == 200
    new = ProcessingTask.objects.get(pk=r.json()["new_task_id"])
    assert new.parent_id == task.pk and r.json()["watch_url"] == f"/tasks/{new.pk}/"

    stranger = Client()
    stranger.force_login(outsider)
    for name in ("cancel", "task-reprocess", "task-delete"):
        assert stranger.post(reverse(name, args=[new.pk])).status_code == 404
    r = browser.post(
        reverse("task-delete", args=[task.pk]), {"csrfmiddlewaretoken": token, "next": "https://evil.example/"}
    )
    assert r.status_code == 302 and r["Location"] == "/tasks/"  # not to another site
    assert not ProcessingTask.objects.filter(pk=task.pk).exists()


def test_a_refused_action_is_a_sentence(alice, make_task, h264_file):
    task = make_task(h264_file, status="running")
    r = alice.post(reverse("task-delete", args=[task.pk]), HTTP_ACCEPT="application/json")
    assert (
        r.status_code == 409 and r.json()["error"] == "This video is being processed; cancel it first, then delete it."
    )
    r = alice.post(reverse("task-delete", args=[task.pk]), follow=True)
    assert "cancel it first" in r.content.decode()


def test_the_batch_page_shows_every_video_and_the_summary(alice, client, owner, outsider, tasks):
    batch = Batch.objects.create(owner=owner, title="Conference talks")
    for i, name in enumerate(["Keynote talk", "Podcast 12", "Match highlights"]):
        BatchItem.objects.create(batch=batch, position=i, source=name, task=tasks[name])
    BatchItem.objects.create(batch=batch, position=3, source="https://youtu.be/nope", error="Not a video link.")
    r = alice.get(reverse("batch", args=[batch.pk]))
    html = r.content.decode()
    assert r.status_code == 200 and "Conference talks" in html
    assert html.count('class="task-row ') == 4 and "Not a video link." in html
    summary = re.search(r'id="batch-summary".*?</dl>', html, re.S)[0]
    counts = dict(re.findall(r'data-count="(\w+)">([^<]*)<', summary))
    assert counts["done"] == "1" and counts["failed"] == "2" and counts["running"] == "1" and counts["queued"] == "0"
    assert counts["rate"] == "33 %"
    live = config(r)
    assert live["mode"] == "batch" and set(live["tasks"]) == {
        str(tasks[n].pk) for n in ["Keynote talk", "Podcast 12", "Match highlights"]
    }
    client.force_login(outsider)
    assert client.get(reverse("batch", args=[batch.pk])).status_code == 404


def test_many_links_become_one_batch_with_the_pages_options(alice, owner, settings):
    from .fake_youtube import Reply, VideoHost

    listed = [f"listed{i:05d}" for i in range(3)]
    pages = {"/" + quote("https://www.youtube.com/playlist?list=PLpage0000001", safe=""): Reply(body=listing(listed))}
    with VideoHost(pages) as host:
        settings.YOUTUBE_LIST_URL = host.url + "/{url}"
        settings.YOUTUBE_EXTRACTORS = ("generic", "youtube")
        r = alice.post(
            reverse("batch-new"),
            {
                "sources": "https://youtu.be/single00000\n\n  https://www.youtube.com/playlist?list=PLpage0000001 \nnot a link",
                "title": "Mixed",
                "interval": "20",
                "ideas": ["0", "on"],  # a ticked box (its hidden "0" first)
                "commentary": ["0"],
                "reel_aspects": ["9:16", "1:1"],
            },
        )
    batch = Batch.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/batches/{batch.pk}/"
    items = list(batch.items.select_related("task"))
    assert [i.source for i in items][:4] == ["https://youtu.be/single00000"] + [
        f"https://www.youtube.com/watch?v={v}" for v in listed
    ]
    assert items[4].task is None and items[4].error
    options = [i.task.options for i in items[:4]]
    assert {(o.interval, o.ideas, o.commentary, tuple(o.reel_aspects)) for o in options} == {
        (20, True, False, ("9:16", "1:1"))
    }
    assert batch.title == "Mixed" and batch.owner == owner


def test_a_batch_of_nothing_comes_back_to_the_upload_page_with_a_sentence(alice):
    r = alice.post(reverse("batch-new"), {"sources": "not a link\nneither"})
    html = r.content.decode()
    assert r.status_code == 200 and "None of the sources could be queued." in html
    assert "not a link\nneither" in html  # the box keeps what was pasted
    assert not Batch.objects.exists()


def test_a_webhook_on_the_page_is_checked_as_the_api_checks_it(alice, owner, settings):
    r = alice.post(
        reverse("batch-new"),
        {"sources": "https://youtu.be/single00000", "webhook_url": "http://127.0.0.1:9/hook"},
        HTTP_ACCEPT="application/json",
    )
    assert r.status_code == 400 and "loopback" in r.json()["errors"][0]
    settings.WEBHOOK_ALLOW_PRIVATE = True
    r = alice.post(
        reverse("batch-new"),
        {"sources": "https://youtu.be/single00000", "webhook_url": "http://127.0.0.1:9/hook"},
        follow=True,
    )
    batch = Batch.objects.get()
    assert batch.webhook_url == "http://127.0.0.1:9/hook"
    assert "Your webhook signing secret is whsec_" in r.content.decode()  # the first webhook: shown once
    again = alice.post(
        reverse("batch-new"),
        {"sources": "https://youtu.be/other000000", "webhook_url": "http://127.0.0.1:9/hook"},
        follow=True,
    )
    assert "whsec_" not in again.content.decode()


def test_files_the_page_uploaded_join_one_batch_even_once_started(alice, owner, tmp_path):
    """The page uploads each file with the part protocol (each is queued, and may start, when its last part
    lands), then groups them: one already running with the same options is not run twice."""
    ids = []
    for i in range(2):
        clip = media.h264_aac(tmp_path / f"clip{i}.mp4", seconds=2 + i)
        data = clip.read_bytes()
        opened = alice.post(
            reverse("upload-start"), {"filename": clip.name, "size": len(data), "interval": "20"}
        ).json()
        r = alice.put(
            opened["upload_url"],
            data,
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
        )
        assert r.json()["complete"]
        ids.append(opened["task_id"])
    ProcessingTask.objects.filter(pk=ids[0]).update(status="running")  # a worker took the first at once
    r = alice.post(reverse("batch-new"), {"uploads": ids, "interval": "20"}, HTTP_ACCEPT="application/json")
    assert r.status_code == 201, r.content
    batch = Batch.objects.get()
    assert r.json()["url"] == f"/batches/{batch.pk}/"
    assert [str(i.task_id) for i in batch.items.all()] == ids
    assert ProcessingTask.objects.count() == 2  # nothing run twice


def test_a_file_processed_before_joins_as_that_earlier_task(alice, owner, tmp_path):
    """The same file again with the same options: its upload is dropped for the earlier task (the part answer says
    `same_as`), and a batch naming the dropped upload gets the earlier task, not an error or a second run."""
    clip = media.h264_aac(tmp_path / "again.mp4", seconds=2)
    data = clip.read_bytes()
    answers = []
    for _ in range(2):
        opened = alice.post(reverse("upload-start"), {"filename": clip.name, "size": len(data)}).json()
        r = alice.put(
            opened["upload_url"],
            data,
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
        )
        answers.append({**opened, **r.json()})
    first, dropped = answers
    assert dropped["same_as"] == first["task_id"]
    r = alice.post(reverse("batch-new"), {"uploads": [dropped["task_id"]]}, HTTP_ACCEPT="application/json")
    assert r.status_code == 201, r.content
    assert str(Batch.objects.get().items.get().task_id) == first["task_id"]


def test_an_older_task_is_not_added_at_the_top_of_page_one(alice, owner, tasks):
    since = config(alice.get(reverse("task-list")))["since"]
    old = tasks["Keynote talk"]  # still running: its events reach the page, which has a row for it or not
    url = reverse("task-row", args=[old.pk])
    assert alice.get(url, {"since": since}).status_code == 204  # made before the page: not a new row
    assert alice.get(url).status_code == 200  # refreshing a row the page has still works
    new = ProcessingTask.objects.create(owner=owner, title="Made after the page")
    r = alice.get(reverse("task-row", args=[new.pk]), {"since": since})
    assert r.status_code == 200 and "Made after the page" in r.content.decode()
    assert alice.get(url, {"since": "2026-13-45T99:00:00"}).status_code == 200  # a broken value is no filter


def test_a_file_whose_media_retention_deleted_is_taken_again(alice, owner, tmp_path):
    """Retention deleted the first run's media: the same file uploaded again is not dropped for it (nothing is
    left to show) but is a task of its own, and a batch takes it. A run that is done with the batch's options is
    taken as it is even when its file is no longer kept; the purged one is refused with the sentence."""
    import shutil

    clip = media.h264_aac(tmp_path / "kept.mp4", seconds=2)
    data = clip.read_bytes()

    def upload() -> dict:
        opened = alice.post(reverse("upload-start"), {"filename": clip.name, "size": len(data)}).json()
        r = alice.put(
            opened["upload_url"],
            data,
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
        )
        return {**opened, **r.json()}

    first = ProcessingTask.objects.get(pk=upload()["task_id"])
    ProcessingTask.objects.filter(pk=first.pk).update(status="succeeded")
    first.source_file().unlink()  # done, its file not kept: its outputs still are
    r = alice.post(reverse("batch-new"), {"uploads": [str(first.pk)]}, HTTP_ACCEPT="application/json")
    assert r.status_code == 201, r.content
    assert Batch.objects.get().items.get().task_id == first.pk  # taken as it is, not refused nor run again
    shutil.rmtree(first.workdir())  # then retention deletes its media (ops.retention.purge)
    ProcessingTask.objects.filter(pk=first.pk).update(result={"media_deleted": True})
    again = upload()
    assert "same_as" not in again and ProcessingTask.objects.get(pk=again["task_id"]).status == "queued"
    r = alice.post(reverse("batch-new"), {"uploads": [again["task_id"]]}, HTTP_ACCEPT="application/json")
    assert r.status_code == 201, r.content
    assert str(Batch.objects.get(pk=r.json()["batch_id"]).items.get().task_id) == again["task_id"]
    r = alice.post(reverse("batch-new"), {"uploads": [str(first.pk)]}, HTTP_ACCEPT="application/json")
    refused = Batch.objects.get(pk=r.json()["batch_id"]).items.get()
    assert refused.task is None and refused.error == "The file of this upload is no longer kept; upload it again."
