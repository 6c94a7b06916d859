"""Part-by-part uploads: open, PUT raw parts with Content-Range, resume, finish → queued task."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse
from django_q.models import OrmQ

from jobs.models import ProcessingTask

pytestmark = pytest.mark.django_db


def open_upload(client, *, size, filename="talk.mp4", interval=30, **extra):
    return client.post(reverse("upload-start"), {"filename": filename, "size": size, "interval": interval, **extra})


def put(client, url, data: bytes, start: int, total: int, **extra):
    headers = {"HTTP_CONTENT_RANGE": f"bytes {start}-{start + len(data) - 1}/{total}", **extra}
    return client.put(url, data, content_type="application/octet-stream", **headers)


def test_a_file_sent_in_parts_becomes_a_queued_task(alice, h264_file, media_root):
    data = h264_file.read_bytes()
    opened = open_upload(alice, size=len(data))
    assert opened.status_code == 201
    info = opened.json()
    task = ProcessingTask.objects.get(pk=info["task_id"])
    assert task.status == "uploading" and OrmQ.objects.count() == 0
    step = len(data) // 3 + 1
    for start in range(0, len(data), step):
        answer = put(alice, info["upload_url"], data[start : start + step], start, len(data)).json()
    assert answer == {"offset": len(data), "complete": True, "watch_url": info["watch_url"]}
    task.refresh_from_db()
    assert task.status == "queued" and OrmQ.objects.count() == 1
    assert task.source_file().read_bytes() == data
    assert not task.upload_part_file().exists()
    assert list(task.events.values_list("type", "stage")) == [("stage", "queued")]


def test_a_repeated_or_out_of_order_part_is_refused_with_the_offset_to_resume_from(alice):
    info = open_upload(alice, size=10).json()
    url = info["upload_url"]
    assert put(alice, url, b"01234", 0, 10).json()["offset"] == 5
    again = put(alice, url, b"01234", 0, 10)  # the client did not see the answer and sent it again
    assert again.status_code == 409 and again.json()["offset"] == 5
    ahead = put(alice, url, b"89", 8, 10)
    assert ahead.status_code == 409 and ahead.json()["offset"] == 5
    assert alice.get(url).json() == {"offset": 5, "total": 10, "status": "uploading"}
    assert put(alice, url, b"56789", 5, 10).json()["complete"] is True


def test_a_part_must_match_its_content_range(alice):
    info = open_upload(alice, size=10).json()
    bad = alice.put(
        info["upload_url"], b"0123", content_type="application/octet-stream", HTTP_CONTENT_RANGE="bytes 0-9/10"
    )
    assert bad.status_code == 400
    missing = alice.put(info["upload_url"], b"0123", content_type="application/octet-stream")
    assert missing.status_code == 400 and "Content-Range" in missing.json()["errors"][0]
    wrong_total = put(alice, info["upload_url"], b"0123", 0, 11)
    assert wrong_total.status_code == 409


def test_too_big_and_empty_files_are_refused_before_any_byte_is_sent(alice, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    too_big = open_upload(alice, size=5000)
    assert too_big.status_code == 400 and "the limit is 1000 bytes" in too_big.json()["errors"][0]
    assert "empty" in open_upload(alice, size=0).json()["errors"][0]
    assert ProcessingTask.objects.count() == 0


def test_other_users_cannot_see_or_add_to_an_upload(alice, client, outsider):
    info = open_upload(alice, size=10).json()
    client.force_login(outsider)
    assert client.get(info["upload_url"]).status_code == 404
    assert put(client, info["upload_url"], b"0123456789", 0, 10).status_code == 404


def test_a_cancelled_upload_takes_no_more_parts(alice):
    info = open_upload(alice, size=10).json()
    put(alice, info["upload_url"], b"01234", 0, 10)
    alice.post(reverse("cancel", args=[info["task_id"]]))
    late = put(alice, info["upload_url"], b"56789", 5, 10)
    assert late.status_code == 409
    task = ProcessingTask.objects.get(pk=info["task_id"])
    assert task.status == "cancelled"
    assert not task.upload_part_file().exists(), "the partial upload was kept"


def test_abandoned_uploads_expire(alice, settings):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.services import expire_stale_uploads

    info = open_upload(alice, size=10).json()
    put(alice, info["upload_url"], b"01234", 0, 10)
    task = ProcessingTask.objects.get(pk=info["task_id"])
    assert expire_stale_uploads() == 0
    ProcessingTask.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert expire_stale_uploads() == 0, "parts arrived within the last 24 h: still going"
    old = (timezone.now() - timedelta(hours=25)).timestamp()
    os.utime(task.upload_part_file(), (old, old))
    assert expire_stale_uploads() == 1
    task.refresh_from_db()
    assert task.status == "cancelled" and "did not finish" in task.error
    assert task.events.last().type == "cancelled"
    assert not task.upload_part_file().exists()


def send_whole(client, data: bytes, **fields):
    info = open_upload(client, size=len(data), **fields).json()
    return info, put(client, info["upload_url"], data, 0, len(data)).json()


def test_the_same_file_again_opens_the_earlier_result_unless_forced(alice, h264_file):
    data = h264_file.read_bytes()
    first, answer = send_whole(alice, data)
    assert answer["watch_url"] == first["watch_url"] and "same_as" not in answer
    second, again = send_whole(alice, data)
    assert again["same_as"] == first["task_id"] and again["watch_url"] == first["watch_url"]
    assert ProcessingTask.objects.get(pk=second["task_id"]).status == "cancelled"
    assert not ProcessingTask.objects.get(pk=second["task_id"]).source_file().exists(), "kept twice"
    other_options, fresh = send_whole(alice, data, interval=60)
    assert "same_as" not in fresh, "other options: other work"
    forced = open_upload(alice, size=len(data), force="on").json()
    done = put(alice, forced["upload_url"], data, 0, len(data)).json()
    assert "same_as" not in done and ProcessingTask.objects.get(pk=forced["task_id"]).status == "queued"
