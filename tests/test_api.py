"""The JSON API: tokens and sessions, owner checks, create/read/cancel/list, and how fast a submit is."""

from __future__ import annotations

import hashlib
import io
import statistics
import time
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django_q.models import OrmQ

from api.models import ApiToken
from jobs import reporter
from jobs.models import ProcessingTask
from repurposer.forms import YouTubeForm

pytestmark = pytest.mark.django_db

YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.fixture
def key(owner) -> str:
    return ApiToken.create_for(user=owner, name="tests")[1]


@pytest.fixture
def api(key) -> Client:
    """A client that signs in with alice's token (and enforces CSRF, which tokens are exempt from)."""
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def small_video(tmp_path):
    from . import media

    return media.h264_aac(tmp_path / "small.mp4", seconds=2)


@pytest.fixture
def dummy(tmp_path):
    path = tmp_path / "dummy.mp4"
    path.write_bytes(b"not really a video")
    return path


def endpoints(task_id) -> list[tuple[str, str]]:
    return [
        ("get", reverse("api-tasks")),
        ("get", reverse("api-task", args=[task_id])),
        ("get", reverse("api-task-events", args=[task_id])),
        ("post", reverse("api-task-cancel", args=[task_id])),
        ("post", reverse("api-create")),
        ("post", reverse("cancel-task", args=[task_id])),
    ]


def is_sentence(text: str) -> bool:
    return (
        isinstance(text, str) and text[:1].isupper() and text.rstrip().endswith((".", ")")) and "Traceback" not in text
    )


# --- authentication ---------------------------------------------------------------------------------------


def test_it_requires_authentication_everywhere(client, make_task, dummy):
    task = make_task(dummy)
    for method, url in endpoints(task.pk):
        response = getattr(client, method)(url)
        assert response.status_code == 401, url
        assert is_sentence(response.json()["error"])
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Token ", "Basic YWxpY2U6cGFzcw==", "Bearer " + "x" * 500])
def test_a_bad_token_is_refused(client, key, header):
    response = client.get(reverse("api-tasks"), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert is_sentence(response.json()["error"])


def test_a_token_works_with_either_scheme(client, key, owner):
    for scheme in ("Bearer", "Token", "bearer"):
        response = client.get(reverse("api-tasks"), HTTP_AUTHORIZATION=f"{scheme} {key}")
        assert response.status_code == 200, scheme
    assert ApiToken.objects.get().last_used_at is not None


def test_only_a_hash_of_the_token_is_stored(owner):
    token, key = ApiToken.create_for(user=owner, name="ci")
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert token.prefix == key[:8]
    assert key not in str(ApiToken.objects.values().get())


def test_a_deactivated_users_token_stops_working(client, key, owner):
    owner.is_active = False
    owner.save()
    assert client.get(reverse("api-tasks"), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_the_management_command_prints_a_new_token_once(client, owner):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "alice", "--name", "nightly", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert len(key) >= 40 and "\n" not in key
    assert "cannot be shown again" in err.getvalue()
    token = ApiToken.objects.get()
    assert token.name == "nightly" and token.user == owner and key[:8] == token.prefix
    assert client.get(reverse("api-tasks"), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


def test_the_management_command_refuses_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user called"):
        call_command("api_token", "nobody", stdout=io.StringIO())


def test_the_admin_lists_tokens_without_their_secret(client, owner, django_user_model):
    token, key = ApiToken.create_for(user=owner, name="nightly")
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1234")
    client.force_login(admin)
    page = client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    assert token.prefix in page and "nightly" in page
    assert key not in page and token.key_hash not in page
    detail = client.get(reverse("admin:api_apitoken_change", args=[token.pk])).content.decode()
    assert key not in detail and token.key_hash not in detail
    assert client.get(reverse("admin:api_apitoken_add")).status_code == 403


def test_a_session_works_but_unsafe_requests_need_csrf(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get(reverse("api-tasks")).status_code == 200
    refused = browser.post(reverse("api-create"), {"youtube_url": YOUTUBE})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert ProcessingTask.objects.count() == 0
    browser.get(reverse("upload"))  # the page sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post(reverse("api-create"), {"youtube_url": YOUTUBE}, HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 202


def test_token_requests_are_exempt_from_csrf(api):
    assert api.post(reverse("api-create"), {"youtube_url": YOUTUBE}).status_code == 202


def test_other_users_tasks_are_404_on_every_endpoint(api, make_task, outsider, dummy):
    theirs = make_task(dummy, user=outsider)
    for task_id in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
        for method, url in endpoints(task_id)[1:4] + endpoints(task_id)[5:]:
            response = getattr(api, method)(url)
            assert response.status_code == 404, url
            assert response.json().get("error") or response.json().get("detail")
    theirs.refresh_from_db()
    assert theirs.status == "queued" and not theirs.cancel_requested
    assert str(theirs.pk) not in api.get(reverse("api-tasks")).content.decode()


# --- create ------------------------------------------------------------------------------------------------


def test_create_with_an_upload_queues_a_task_with_the_forms_params(api, small_video, media_root):
    with open(small_video, "rb") as fh:
        response = api.post(reverse("api-create"), {"file": fh, "interval": 15, "ideas": "false"})
    assert response.status_code == 202, response.content
    body = response.json()
    task = ProcessingTask.objects.get()
    assert body == {
        "task_id": str(task.pk),
        "status": "queued",
        "reused": False,
        "urls": {
            "task": f"/api/task/{task.pk}",
            "watch": f"/tasks/{task.pk}/",
            "events": f"/api/task/{task.pk}/events",
            "cancel": f"/api/task/{task.pk}/cancel",
            "stream": f"/analyze-stream/{task.pk}",
            "playlist": f"/tasks/{task.pk}/hls/playlist.m3u8",
        },
    }
    # Sent options win; the rest are the page's initial values (a browser would send them the same way).
    assert task.params["interval"] == 15 and task.params["ideas"] is False
    assert task.params["transcribe"] is True
    assert (media_root / task.source_path).read_bytes() == small_video.read_bytes()
    assert OrmQ.objects.count() == 1, "the work is queued, not done inline"
    assert list(task.events.values_list("type", "stage")) == [("stage", "queued")]

    with open(small_video, "rb") as fh:
        again = api.post(reverse("api-create"), {"file": fh, "interval": 15, "ideas": "false"})
    assert again.status_code == 200 and again.json()["reused"] is True and again.json()["task_id"] == str(task.pk)


def test_create_with_a_youtube_url(api):
    response = api.post(
        reverse("api-create"), {"youtube_url": YOUTUBE, "interval": 20}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    task = ProcessingTask.objects.get(pk=body["task_id"])
    assert body["status"] == "queued" and body["reused"] is False
    assert task.source == "youtube" and task.params["video_id"] == "dQw4w9WgXcQ" and task.params["interval"] == 20
    # Exactly what the page's YouTube form makes of the same input.
    page = YouTubeForm(
        {name: YouTubeForm().get_initial_for_field(f, name) for name, f in YouTubeForm.base_fields.items()}
        | {"url": YOUTUBE, "interval": 20}
    )
    assert page.is_valid(), page.errors
    assert task.params == page.job_params()

    again = api.post(reverse("api-create"), {"youtube_url": YOUTUBE, "interval": 20}, content_type="application/json")
    assert again.status_code == 200 and again.json() == {**body, "reused": True}
    forced = api.post(
        reverse("api-create"), {"youtube_url": YOUTUBE, "interval": 20, "force": True}, content_type="application/json"
    )
    assert forced.status_code == 202 and forced.json()["task_id"] != body["task_id"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"youtube_url": YOUTUBE, "interval": 5}, "interval"),
        ({"youtube_url": YOUTUBE, "interval": "abc"}, "interval"),
        ({"youtube_url": "https://vimeo.com/12345"}, "url"),
        ({"youtube_url": "https://www.youtube.com/playlist?list=PL123"}, "url"),
        ({}, "youtube_url"),
    ],
)
def test_bad_input_is_400_with_sentences(api, data, field):
    response = api.post(reverse("api-create"), data, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert is_sentence(body["error"])
    assert all(is_sentence(m) for m in body["errors"][field])
    assert ProcessingTask.objects.count() == 0


def test_unreadable_bodies_and_empty_files_are_400(api, tmp_path):
    for raw in ("{not json", "[1, 2]"):
        response = api.generic("POST", reverse("api-create"), raw, content_type="application/json")
        assert response.status_code == 400 and is_sentence(response.json()["error"])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with open(empty, "rb") as fh:
        response = api.post(reverse("api-create"), {"file": fh})
    assert response.status_code == 400 and "empty" in response.json()["errors"]["file"][0]


def test_wrong_methods_answer_json(api):
    response = api.get(reverse("api-create"))
    assert response.status_code == 405 and response["Allow"] == "POST" and is_sentence(response.json()["error"])


# --- read, events, cancel, list ----------------------------------------------------------------------------


def test_task_detail_counts_what_the_events_announced(api, make_task, dummy):
    task = make_task(dummy)
    reporter.emit(task.pk, "stage", stage="chunk", progress=10, message="Cutting")
    for i in range(3):
        reporter.emit(task.pk, "chunk_ready", stage="chunk", progress=20 + i, data={"index": i})
    for i in (0, 0, 1):  # the first interval may come in two parts
        reporter.emit(task.pk, "transcript_ready", stage="chunk", data={"index": i, "segments": []})
    reporter.emit(task.pk, "idea_ready", data={"index": 0, "title": "A reel"})
    with transaction.atomic():
        ProcessingTask.objects.filter(pk=task.pk).update(status="succeeded", result={"final": "final.mp4"})
        reporter.emit(task.pk, "complete", stage="done", progress=100, data={"chunks": 3})
    body = api.get(reverse("api-task", args=[task.pk])).json()
    assert body["status"] == "succeeded" and body["stage"] == "done" and body["progress"] == 100
    assert body["counts"] == {"chunks": 3, "transcript_intervals": 2, "ideas": 1, "pieces": 0, "events": 9}
    assert body["params"] == {"interval": 10} and body["result"] == {"final": "final.mp4"}
    assert body["urls"]["final_video"] == f"/tasks/{task.pk}/media/final.mp4"
    assert body["urls"]["watch"] == f"/tasks/{task.pk}/" and body["created_at"] and body["error"] == ""
    assert set(body) >= {"eta_seconds", "started_at", "finished_at", "title", "source"}


def test_events_after_a_seq_in_the_websockets_json(api, make_task, dummy):
    task = make_task(dummy)
    rows = [
        reporter.emit(task.pk, "progress", stage="chunk", progress=i * 10, message=f"event {i + 1}") for i in range(5)
    ]
    body = api.get(reverse("api-task-events", args=[task.pk]), {"after": 2}).json()
    assert [e["seq"] for e in body["events"]] == [3, 4, 5]
    assert body["events"][0] == rows[2].as_event()
    assert body["last_seq"] == 5 and body["more"] is False and body["status"] == "queued"
    page = api.get(reverse("api-task-events", args=[task.pk]), {"after": 0, "limit": 2}).json()
    assert [e["seq"] for e in page["events"]] == [1, 2] and page["more"] is True and page["last_seq"] == 2
    assert api.get(reverse("api-task-events", args=[task.pk]), {"after": "x"}).status_code == 400


def test_cancel_a_queued_task(api, make_task, dummy):
    task = make_task(dummy)
    response = api.post(reverse("api-task-cancel", args=[task.pk]))
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled" and response.json()["cancel_requested"] is True
    task.refresh_from_db()
    assert task.status == "cancelled" and task.events.last().type == "cancelled"
    again = api.post(reverse("api-task-cancel", args=[task.pk]))
    assert again.status_code == 409 and is_sentence(again.json()["error"])


def test_cancel_a_running_task_asks_the_worker_to_stop(api, make_task, dummy):
    task = make_task(dummy, status="running")
    response = api.post(reverse("api-task-cancel", args=[task.pk]))
    assert response.status_code == 202 and response.json()["status"] == "running"
    task.refresh_from_db()
    assert task.cancel_requested


def test_legacy_cancel_answers_in_the_seeds_shape(api, make_task, dummy):
    task = make_task(dummy)
    response = api.post(reverse("cancel-task", args=[task.pk]))
    assert response.status_code == 200 and response.json()["message"] == "Task cancelled successfully"
    again = api.post(reverse("cancel-task", args=[task.pk]))
    assert again.status_code == 404 and again.json()["detail"] == "Task not found or already completed"


def test_the_task_list_pages_newest_first_with_queue_counts(api, make_task, outsider, dummy):
    mine = [make_task(dummy) for _ in range(3)]
    make_task(dummy, status="succeeded")
    make_task(dummy, user=outsider, status="running")
    make_task(dummy, user=outsider)
    first = api.get(reverse("api-tasks"), {"limit": 2}).json()
    assert first["count"] == 4 and first["limit"] == 2 and first["offset"] == 0
    newest = sorted(ProcessingTask.objects.filter(owner__username="alice"), key=lambda t: t.created_at, reverse=True)
    assert [t["task_id"] for t in first["tasks"]] == [str(t.pk) for t in newest[:2]]
    assert first["next"] == "/api/tasks?limit=2&offset=2"
    second = api.get(first["next"]).json()
    assert [t["task_id"] for t in second["tasks"]] == [str(t.pk) for t in newest[2:]] and second["next"] is None
    assert first["queue"] == {"queued": 4, "running": 1}  # the whole system's queue
    assert first["mine"]["queued"] == 3 and first["mine"]["succeeded"] == 1 and first["mine"]["running"] == 0
    only = api.get(reverse("api-tasks"), {"status": "succeeded"}).json()
    assert only["count"] == 1 and len(mine) == 3
    assert api.get(reverse("api-tasks"), {"limit": "many"}).status_code == 400
    assert api.get(reverse("api-tasks"), {"status": "bogus"}).status_code == 400


# --- speed -------------------------------------------------------------------------------------------------


def test_submit_latency_of_a_small_upload(api, small_video):
    """POST /api/create answers as soon as the task is queued. Prints p50/p95 over 20 uploads."""
    payload = small_video.read_bytes()
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        response = api.post(reverse("api-create"), {"file": SimpleUploadedFile("small.mp4", payload), "force": "1"})
        timings.append(time.perf_counter() - started)
        assert response.status_code == 202
    timings.sort()
    p50, p95 = statistics.median(timings), timings[int(0.95 * len(timings)) - 1]
    print(f"\nsubmit latency, {len(payload) / 1024:.0f} KB upload: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert ProcessingTask.objects.count() == 20 and OrmQ.objects.count() == 20
    assert p95 < 2.0
