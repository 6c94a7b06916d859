"""Pages and media: upload, watch, owner checks, playlist, Range, cancel, metrics."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import OrmQ

from jobs import reporter
from jobs.models import PerformanceMetrics, ProcessingTask, ProgressUpdate

pytestmark = pytest.mark.django_db


def upload(client, path, **data):
    """What the page sends with every box unticked (each box has a hidden "0"), plus `data`."""
    unticked = {"transcribe": "0", "commentary": "0", "ideas": "0", "force": "0"}
    with open(path, "rb") as fh:
        return client.post(reverse("upload"), {"file": fh, "interval": 30, **unticked, **data})


def test_it_asks_anonymous_users_to_log_in(client):
    response = client.get(reverse("upload"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_signup_logs_the_new_user_in(client):
    response = client.post(
        reverse("signup"), {"username": "newbie", "password1": "a-Long-pass-42x", "password2": "a-Long-pass-42x"}
    )
    assert response.status_code == 302
    assert client.get(reverse("upload")).status_code == 200


def test_upload_creates_a_task_enqueues_it_and_goes_to_the_watch_page(alice, h264_file, media_root):
    response = upload(alice, h264_file, interval=15)
    task = ProcessingTask.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("watch", args=[task.pk])
    assert task.params == {"interval": 15, "transcribe": False, "commentary": False, "ideas": False}
    assert task.source_path == f"tasks/{task.pk}/source.mp4"
    assert (media_root / task.source_path).read_bytes() == h264_file.read_bytes()
    assert OrmQ.objects.count() == 1
    assert list(task.events.values_list("type", "stage")) == [("stage", "queued")]
    assert not list((media_root / "incoming").iterdir()), "the upload temp file was left behind"


def test_upload_answers_json_when_asked(alice, h264_file):
    with open(h264_file, "rb") as fh:
        response = alice.post(reverse("upload"), {"file": fh, "interval": 30}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued" and body["url"] == reverse("watch", args=[body["task_id"]])


def test_a_hostile_file_name_is_only_a_title(alice, h264_file, tmp_path, media_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    evil = SimpleUploadedFile("../../x;rm -rf ~.mp4", h264_file.read_bytes(), content_type="video/mp4")
    alice.post(reverse("upload"), {"file": evil, "interval": 30})
    task = ProcessingTask.objects.get()
    assert task.source_path == f"tasks/{task.pk}/source.mp4"
    assert ".." not in task.title and "/" not in task.title
    page = alice.get(reverse("watch", args=[task.pk]))
    assert page.status_code == 200


@pytest.mark.parametrize("interval", [5, 121, "abc"])
def test_interval_must_be_between_10_and_120(alice, h264_file, interval):
    response = upload(alice, h264_file, interval=interval)
    assert response.status_code == 200
    assert ProcessingTask.objects.count() == 0
    assert response.context["form"].errors["interval"]


def test_an_empty_file_is_refused_with_a_sentence(alice, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    response = upload(alice, empty)
    assert ProcessingTask.objects.count() == 0
    assert "empty" in str(response.context["form"].errors)


def test_a_file_over_the_limit_is_refused_during_upload(alice, h264_file, settings, media_root):
    settings.MAX_UPLOAD_BYTES = 10_000
    response = upload(alice, h264_file)
    assert ProcessingTask.objects.count() == 0
    assert "too large; the limit is 9.8 KB" in response.content.decode()
    assert not list((media_root / "incoming").iterdir())


def test_watch_page_hands_its_config_to_javascript(alice, owner, make_task, h264_file):
    task = make_task(h264_file)
    page = alice.get(reverse("watch", args=[task.pk]))
    assert page.status_code == 200
    config = page.context["config"]
    assert config["ws"] == f"/ws/tasks/{task.pk}/"
    assert config["playlist"] == reverse("playlist", args=[task.pk])
    assert b'id="watch-config"' in page.content and b"hls.min.js" in page.content


def test_text_from_users_is_escaped(alice, make_task, h264_file):
    task = make_task(h264_file)
    ProcessingTask.objects.filter(pk=task.pk).update(title="<script>alert(1)</script>", error="<b>x</b>")
    assert b"<script>alert(1)</script>" not in alice.get(reverse("watch", args=[task.pk])).content
    assert b"<b>x</b>" not in alice.get(reverse("task-list")).content


def test_other_users_get_404_everywhere(client, outsider, make_task, h264_file):
    task = make_task(h264_file)
    (task.workdir() / "chunks").mkdir(parents=True)
    (task.workdir() / "chunks/00000.ts").write_bytes(b"x" * 100)
    client.force_login(outsider)
    for url in (
        reverse("watch", args=[task.pk]),
        reverse("playlist", args=[task.pk]),
        reverse("task-media", args=[task.pk, "chunks/00000.ts"]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("cancel", args=[task.pk])).status_code == 404
    assert task.title not in client.get(reverse("task-list")).content.decode()


def emit_chunk(task, index, duration=10.0):
    reporter.emit(
        task.pk,
        "chunk_ready",
        stage="chunk",
        data={
            "index": index,
            "duration": duration,
            "url": reverse("task-media", args=[task.pk, f"chunks/{index:05d}.ts"]),
        },
    )


def test_the_playlist_grows_in_order_and_ends_when_the_task_does(alice, make_task, h264_file):
    task = make_task(h264_file)
    ProcessingTask.objects.filter(pk=task.pk).update(status="running", result={"target_duration": 11})
    emit_chunk(task, 0, 10.01)
    emit_chunk(task, 2, 9.5)  # arrives before chunk 1: must wait
    text = alice.get(reverse("playlist", args=[task.pk])).content.decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-TARGETDURATION:11" in text
    assert "chunks/00000.ts" in text and "chunks/00002.ts" not in text and "ENDLIST" not in text
    emit_chunk(task, 1, 10.0)
    ProcessingTask.objects.filter(pk=task.pk).update(status="succeeded")
    text = alice.get(reverse("playlist", args=[task.pk])).content.decode()
    lines = [line for line in text.splitlines() if line.startswith("/tasks/")]
    assert [line[-8:] for line in lines] == ["00000.ts", "00001.ts", "00002.ts"]
    assert text.rstrip().endswith("#EXT-X-ENDLIST")


async def body(response) -> bytes:
    return b"".join([block async for block in response.streaming_content])


@pytest.mark.django_db(transaction=True)
async def test_media_supports_ranges(async_client, owner, make_task, h264_file):
    from asgiref.sync import sync_to_async

    await async_client.aforce_login(owner)
    task = await sync_to_async(make_task)(h264_file)
    final = task.workdir() / "final.mp4"
    final.write_bytes(bytes(range(256)) * 4)
    url = reverse("task-media", args=[task.pk, "final.mp4"])
    whole = await async_client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and whole["Content-Length"] == "1024"
    assert await body(whole) == bytes(range(256)) * 4
    part = await async_client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part["Content-Range"] == "bytes 10-19/1024"
    assert await body(part) == bytes(range(10, 20))
    tail = await async_client.get(url, headers={"Range": "bytes=-4"})
    assert await body(tail) == bytes(range(252, 256))
    open_ended = await async_client.get(url, headers={"Range": "bytes=1000-"})
    assert open_ended["Content-Range"] == "bytes 1000-1023/1024" and len(await body(open_ended)) == 24
    assert (await async_client.get(url, headers={"Range": "bytes=5000-"})).status_code == 416
    backwards = await async_client.get(url, headers={"Range": "bytes=9-2"})  # invalid: ignored
    assert backwards.status_code == 200
    head = await async_client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == "1024"
    download = await async_client.get(url + "?download=1")
    assert download["Content-Disposition"].startswith('attachment; filename="')


@pytest.mark.parametrize("name", ["source.mp4", "../../etc/passwd", "chunks/../source.mp4", "chunks/1.ts", "final.mp4"])
def test_media_serves_only_known_names_that_exist(alice, make_task, h264_file, name):
    task = make_task(h264_file)
    assert alice.get(reverse("task-media", args=[task.pk, name])).status_code == 404


def test_cancel_from_the_page(alice, make_task, h264_file):
    task = make_task(h264_file)
    response = alice.post(reverse("cancel", args=[task.pk]), HTTP_ACCEPT="application/json")
    assert response.json() == {"cancel_requested": True}
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert task.events.last().type == "cancelled"


def test_task_list_shows_own_tasks(alice, make_task, h264_file):
    task = make_task(h264_file)
    page = alice.get(reverse("task-list"))
    assert task.title in page.content.decode()


def test_performance_metrics_are_real_and_staff_only(client, alice, owner, make_task, h264_file):
    task = make_task(h264_file)
    for ms in (10, 20, 30, 40):
        PerformanceMetrics.objects.create(task=task, operation="chunk", duration_ms=ms)
    PerformanceMetrics.objects.create(task=task, operation="ffprobe", duration_ms=5, success=False)
    assert alice.get(reverse("performance-metrics")).status_code == 302  # not staff
    owner.is_staff = True
    owner.save()
    body = alice.get(reverse("performance-metrics")).json()
    assert body["operations"]["chunk"] == {
        "count": 4,
        "success_rate": 1.0,
        "p50_ms": 25.0,
        "p95_ms": 40.0,
        "max_ms": 40.0,
    }
    assert body["operations"]["ffprobe"]["success_rate"] == 0.0
    assert body["tasks"]["queued"] == 1


def test_events_have_the_documented_shape(make_task, h264_file):
    task = make_task(h264_file)
    row = reporter.emit(
        task.pk, "progress", stage="chunk", progress=42.5, eta_seconds=31.2, message="hi", data={"a": 1}
    )
    event = ProgressUpdate.objects.get(pk=row.pk).as_event()
    assert set(event) == {"seq", "task", "type", "stage", "progress", "eta_s", "message", "data", "ts"}
    assert event["seq"] == 1 and event["eta_s"] == 31 and event["task"] == str(task.pk)
