"""Webhooks: a signed summary POSTed when a task or batch ends, to a loopback receiver (a real socket server in
a thread); retried with backoff, every attempt a row; redirects not followed; private hosts refused unless the
setting allows them; one delivery per end, through the real engine too.

Transactional: deliveries are recorded once the transaction that ended the task commits, as in a worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.utils import timezone
from django_q.models import OrmQ

from api.models import ApiToken
from jobs import services, tasks, webhooks
from jobs.engine import run_next, run_task
from jobs.models import Batch, BatchItem, ProcessingTask, WebhookAttempt, WebhookDelivery, WebhookSecret

from . import media

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next of `answers` (the last one repeats) and
    keeping what it got: (path, headers, body)."""

    def __init__(self, answers: list[int], location: str = "") -> None:
        self.answers, self.location = list(answers), location
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((self.path, dict(self.headers), body))
                code = outer.answers.pop(0) if len(outer.answers) > 1 else outer.answers[0]
                self.send_response(code)
                if outer.location:
                    self.send_header("Location", outer.location)
                text = b"x" * 5000 if code >= 500 else b"thanks"
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.WEBHOOK_RETRY_SECONDS = 0
    made: list[Receiver] = []

    def make(answers: list[int], location: str = "") -> Receiver:
        made.append(Receiver(answers, location))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def run_queued_deliveries() -> list[str]:
    """What a qcluster worker would do with the webhook entries queued so far: run each once, in order.
    Returns what each attempt made did."""
    outcomes = []
    for entry in OrmQ.objects.order_by("id"):
        if entry.task.get("func") == "jobs.tasks.deliver_webhooks":
            entry.delete()
            done = tasks.deliver_webhooks()
            outcomes += [] if done == "nothing due" else done.split(", ")
    return outcomes


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict:
    """The receiver's side of the README's scheme: HMAC-SHA256 of "<timestamp>.<body>", a fresh timestamp."""
    timestamp = headers["X-Repurposer-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Repurposer-Signature"], expected)
    assert abs(time.time() - int(timestamp)) < 300
    return json.loads(body)


def queued_task(owner, url: str, **fields) -> ProcessingTask:
    return ProcessingTask.objects.create(owner=owner, title="talk.mp4", webhook_url=url, **fields)


def test_it_signs_the_summary_and_retries_after_a_500(owner, receivers):
    receiver = receivers([500, 200])
    secret = webhooks.new_secret(owner)
    task = queued_task(owner, receiver.url())
    assert services.request_cancel(task=task)
    delivery = WebhookDelivery.objects.get(task=task)
    assert run_queued_deliveries() == ["will retry"]
    assert run_queued_deliveries() == [], "the retry waits for the sweep"
    assert tasks.requeue_stale()["webhook_attempts"] == 1
    assert run_queued_deliveries() == ["delivered"]
    assert len(receiver.received) == 2
    first, second = (verified(secret, headers, body) for _, headers, body in receiver.received)
    assert first == second, "every attempt sends the same body"
    assert receiver.received[0][2] == receiver.received[1][2]
    assert first["event"] == "task.ended" and first["delivery_id"] == str(delivery.pk)
    assert first["task"]["id"] == str(task.pk) and first["task"]["status"] == "cancelled"
    assert first["task"]["urls"]["watch"] == f"http://127.0.0.1:8000/tasks/{task.pk}/"
    assert receiver.received[0][1]["X-Repurposer-Delivery"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2 and delivery.next_attempt_at is None
    rows = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(r.number, r.status_code) for r in rows] == [(1, 500), (2, 200)]
    assert rows[0].error == "The receiver answered 500; it must answer 2xx to accept the delivery."
    assert len(rows[0].response_excerpt) == webhooks.EXCERPT_BYTES, "only the start of an answer is kept"
    assert rows[1].response_excerpt == "thanks" and rows[1].error == ""
    assert all(r.duration_ms > 0 for r in rows)
    assert tasks.requeue_stale()["webhook_attempts"] == 0, "nothing more to send"


def test_it_gives_up_after_the_attempts_the_settings_allow(owner, receivers, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver = receivers([503])
    task = queued_task(owner, receiver.url())
    services.request_cancel(task=task)
    outcomes = run_queued_deliveries()
    while tasks.requeue_stale()["webhook_attempts"]:
        outcomes += run_queued_deliveries()
    assert outcomes == ["will retry", "will retry", "failed"]
    delivery = WebhookDelivery.objects.get(task=task)
    assert delivery.status == "failed" and delivery.attempt_log.count() == 3 and len(receiver.received) == 3


def test_the_wait_doubles_after_each_failed_attempt(settings):
    settings.WEBHOOK_RETRY_SECONDS = 60
    assert [webhooks.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]


def test_two_sending_jobs_make_one_attempt(owner, receivers):
    receiver = receivers([200])
    task = queued_task(owner, receiver.url())
    services.request_cancel(task=task)
    webhooks.queue_sending()  # a second entry (the sweep's, say)
    assert run_queued_deliveries() == ["delivered"]
    assert len(receiver.received) == 1 and OrmQ.objects.count() == 0


def test_an_attempt_whose_worker_died_is_made_again_after_its_lease(owner, receivers):
    receiver = receivers([200])
    task = queued_task(owner, receiver.url())
    services.request_cancel(task=task)
    delivery = WebhookDelivery.objects.get(task=task)
    # A worker claimed attempt 1 and died before posting: the claim is there, no attempt row.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1, next_attempt_at=timezone.now() + webhooks.LEASE)
    OrmQ.objects.all().delete()
    assert tasks.requeue_stale()["webhook_attempts"] == 0, "still leased"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert tasks.requeue_stale()["webhook_attempts"] == 1
    assert run_queued_deliveries() == ["delivered"]
    assert list(delivery.attempt_log.values_list("number", "status_code")) == [(2, 200)]


def test_a_redirect_is_not_followed(owner, receivers, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    elsewhere = receivers([200])
    receiver = receivers([302], location=elsewhere.url("/elsewhere"))
    task = queued_task(owner, receiver.url())
    services.request_cancel(task=task)
    assert run_queued_deliveries() == ["failed"]
    assert len(receiver.received) == 1 and elsewhere.received == []
    row = WebhookAttempt.objects.get(delivery__task=task)
    assert row.status_code == 302
    assert row.error.startswith("The receiver answered 302, a redirect to http://127.0.0.1:")
    assert "redirects are not followed" in row.error


def test_a_private_address_is_refused_when_asked_for_and_again_when_sent(owner, receivers, settings, client):
    token = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.create_for(user=owner, name='hooks')[1]}"}
    receiver = receivers([200])
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url, kind in (
        ("http://10.1.2.3/hook", "a private address"),
        ("http://localhost:9/hook", "a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),
        ("http://[::1]/hook", "a loopback address"),
        ("http://[::ffff:192.168.0.1]/hook", "a private address"),
    ):
        r = client.post(
            "/api/create",
            json.dumps({"youtube_url": "https://youtu.be/dQw4w9WgXcQ", "webhook_url": url}),
            content_type="application/json",
            **token,
        )
        assert r.status_code == 400, (url, r.content)
        assert kind in r.json()["error"] and r.json()["error"].endswith("webhooks are only sent to public addresses.")
        assert r.json()["errors"]["webhook_url"] == [r.json()["error"]]
    assert ProcessingTask.objects.count() == 0
    # Accepted while allowed, then refused at delivery once it is not (DNS may have changed meanwhile).
    task = queued_task(owner, receiver.url())
    services.request_cancel(task=task)
    assert run_queued_deliveries() == ["will retry"]
    assert receiver.received == []
    row = WebhookAttempt.objects.get(delivery__task=task)
    assert row.status_code is None
    assert row.error == "The webhook host 127.0.0.1 resolves to 127.0.0.1, a loopback address; webhooks are only " + (
        "sent to public addresses."
    )


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("ftp://example.com/hook", "The webhook URL must start with http:// or https://."),
        ("javascript:alert(1)", "The webhook URL must start with http:// or https://."),
        ("https://user:pass@example.com/hook", "The webhook URL must not carry a user name or password"),
        ("https:///hook", "The webhook URL has no host name."),
        ("https://example.com:99999/hook", "The webhook URL's port is not a number"),
        ("https://example.com/" + "a" * 2000, "The webhook URL is 2020 characters long; the limit is 2000."),
    ],
)
def test_a_bad_webhook_url_is_refused_with_a_sentence(url, sentence):
    with pytest.raises(webhooks.Refused) as refused:
        webhooks.check_url(url)
    assert refused.value.message.startswith(sentence)


def test_a_task_ended_through_the_real_engine_sends_exactly_one_delivery(owner, receivers, tmp_path, media_root):
    receiver = receivers([200])
    clip = media.h264_aac(tmp_path / "clip.mp4", seconds=3)
    task = ProcessingTask(owner=owner, title="clip.mp4", params={"interval": 10, "transcribe": False})
    target = task.workdir() / "source.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(clip.read_bytes())
    task.source_path, task.source_size, task.webhook_url = str(target.relative_to(media_root)), 1, receiver.url()
    task.save()
    secret = webhooks.new_secret(owner)
    # A queue worker's job: it runs the task, then sends the task's webhook before looking for the next one.
    assert run_next().endswith(": succeeded")
    assert len(receiver.received) == 1, "sent by the worker that ran the task"
    assert run_task(str(task.pk)) == "not claimed", "a second delivery of the job does nothing"
    webhooks.task_ended(task.pk)  # a second notice of the same end (another process) records nothing
    assert run_queued_deliveries() == [], "the queued entry finds it sent"
    assert WebhookDelivery.objects.count() == 1 and len(receiver.received) == 1
    sent = verified(secret, receiver.received[0][1], receiver.received[0][2])["task"]
    assert sent["status"] == "succeeded" and sent["error"] == ""
    assert sent["urls"]["final_video"] == f"http://127.0.0.1:8000/tasks/{task.pk}/media/final.mp4"
    assert sent["urls"]["export_zip"] == f"http://127.0.0.1:8000/tasks/{task.pk}/export.zip"
    assert sent["run_seconds"] > 0 and sent["total_seconds"] >= sent["run_seconds"]


def test_a_failed_task_sends_its_sentence(owner, receivers, tmp_path, media_root):
    receiver = receivers([204])
    task = ProcessingTask(owner=owner, title="junk.mp4", params={"interval": 10}, webhook_url=receiver.url())
    target = task.workdir() / "source.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"this is not a video" * 100)
    task.source_path, task.source_size = str(target.relative_to(media_root)), 1900
    task.save()
    assert run_task(str(task.pk)) == "failed"
    assert run_queued_deliveries() == ["delivered"]
    sent = json.loads(receiver.received[0][2])["task"]
    task.refresh_from_db()
    assert sent["status"] == "failed" and sent["error"] == task.error and sent["error"].endswith(".")
    assert "final_video" not in sent["urls"]


def test_a_batch_sends_one_delivery_when_its_last_task_ends(owner, receivers):
    receiver = receivers([200])
    batch = Batch.objects.create(owner=owner, title="Talks", webhook_url=receiver.url("/batch"))
    first, second = (ProcessingTask.objects.create(owner=owner, title=f"talk {i}") for i in range(2))
    for position, task in enumerate((first, second)):
        BatchItem.objects.create(batch=batch, position=position, source=f"upload {position}", task=task)
    BatchItem.objects.create(batch=batch, position=2, source="https://example.com/x", error="Not a YouTube link.")
    services.request_cancel(task=first)
    assert WebhookDelivery.objects.count() == 0, "one task is still queued"
    services.request_cancel(task=second)
    webhooks.task_ended(second.pk)  # noticed twice: still one delivery
    assert run_queued_deliveries() == ["delivered"]
    assert WebhookDelivery.objects.get().batch_id == batch.pk and len(receiver.received) == 1
    path, _, body = receiver.received[0]
    sent = json.loads(body)
    assert path == "/batch" and sent["event"] == "batch.ended" and sent["batch"]["id"] == str(batch.pk)
    summary = sent["batch"]["summary"]
    assert (summary["total"], summary["cancelled"], summary["refused"], summary["finished"]) == (3, 2, 1, True)
    assert [t["task"] and t["task"]["status"] for t in sent["batch"]["tasks"]] == ["cancelled", "cancelled", None]
    assert sent["batch"]["tasks"][2]["error"] == "Not a YouTube link."


def test_the_api_takes_a_webhook_and_shows_the_secret_once(owner, receivers, client):
    receiver = receivers([200])
    token = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.create_for(user=owner, name='hooks')[1]}"}

    def post(path: str, body: dict):
        return client.post(path, json.dumps(body), content_type="application/json", **token)

    r = post("/api/create", {"youtube_url": "https://youtu.be/dQw4w9WgXcQ", "webhook_url": receiver.url()})
    assert r.status_code == 202, r.content
    secret = r.json()["webhook_secret"]
    assert secret.startswith("whsec_") and ProcessingTask.objects.get().webhook_url == receiver.url()
    r = post("/api/generate", {"script": "One scene. Then another one.", "webhook_url": receiver.url("/made")})
    assert r.status_code == 202, r.content
    assert "webhook_secret" not in r.json(), "shown once"
    assert ProcessingTask.objects.get(pk=r.json()["task_id"]).webhook_url == receiver.url("/made")
    r = post("/api/batch", {"sources": ["https://youtu.be/aaaaaaaaaaa"], "webhook_url": receiver.url("/b")})
    assert r.status_code == 202, r.content
    assert Batch.objects.get(pk=r.json()["batch_id"]).webhook_url == receiver.url("/b")
    r = post("/api/batch", {"sources": ["https://youtu.be/aaaaaaaaaab"], "webhook_url": "ftp://example.com/"})
    assert r.status_code == 400 and r.json()["error"] == "The webhook URL must start with http:// or https://."
    r = client.get("/api/webhook-secret", **token)
    assert r.json()["exists"] is True and secret not in r.content.decode()
    r = client.post("/api/webhook-secret", **token)
    assert r.status_code == 201 and r.json()["secret"] != secret
    # Deliveries are signed with the new one from now on.
    services.request_cancel(task=ProcessingTask.objects.get(webhook_url=receiver.url()))
    run_queued_deliveries()
    verified(r.json()["secret"], receiver.received[0][1], receiver.received[0][2])


def test_the_api_part_upload_takes_a_webhook_and_shows_the_secret_once(owner, receivers, client):
    receiver = receivers([200])
    token = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.create_for(user=owner, name='hooks')[1]}"}
    body = {"filename": "clip.mp4", "size": 1000, "webhook_url": receiver.url("/up")}
    r = client.post("/api/uploads", body, **token)
    assert r.status_code == 201, r.content
    assert r.json()["webhook_secret"].startswith("whsec_")
    assert ProcessingTask.objects.get(pk=r.json()["task_id"]).webhook_url == receiver.url("/up")
    r = client.post("/api/uploads", body, **token)
    assert r.status_code == 201 and "webhook_secret" not in r.json(), "shown once"
    r = client.post("/api/uploads", {"filename": "clip.mp4", "size": 1000}, **token)
    assert r.status_code == 201 and "webhook_secret" not in r.json()


def test_the_admin_shows_every_attempt_and_links_it_from_the_task(owner, receivers, client, django_user_model):
    receiver = receivers([500, 200])
    task = queued_task(owner, receiver.url())
    services.request_cancel(task=task)
    run_queued_deliveries()
    tasks.requeue_stale()
    run_queued_deliveries()
    staff = django_user_model.objects.create_superuser("olga", "olga@example.com", "olga-pass-1234")
    client.force_login(staff)
    page = client.get(f"/admin/jobs/processingtask/{task.pk}/change/").content.decode()
    delivery = WebhookDelivery.objects.get()
    assert f"/admin/jobs/webhookdelivery/?task__id__exact={task.pk}" in page and "1 delivery" in page
    listing = client.get(f"/admin/jobs/webhookdelivery/?task__id__exact={task.pk}")
    assert listing.status_code == 200 and str(delivery.pk) in listing.content.decode()
    detail = client.get(f"/admin/jobs/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "The receiver answered 500" in detail and "thanks" in detail
    assert 'name="_save"' not in detail, "read-only"
    assert WebhookSecret.objects.get(owner=owner).secret not in detail + page


def test_a_real_qcluster_sends_the_webhook_of_a_task_submitted_to_daphne(owner, receivers, media_root, tmp_path):
    from django.db import connection

    from .live import UNTICKED, running_stack

    receiver = receivers([200])
    clip = media.h264_aac(tmp_path / "clip.mp4", seconds=3)
    key = ApiToken.create_for(user=owner, name="live")[1]
    env = {"WEBHOOK_ALLOW_PRIVATE": "1"}
    with running_stack(connection.settings_dict, media_root, extra_env=env) as live, open(clip, "rb") as fh:
        r = httpx.post(
            live.base_url + "/api/create",
            data={"interval": "10", "webhook_url": receiver.url(), **UNTICKED},
            files={"file": ("clip.mp4", fh, "video/mp4")},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        answer = r.json()
        deadline = time.monotonic() + 120
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # anything sent twice would have arrived by now
    assert len(receiver.received) == 1
    sent = verified(answer["webhook_secret"], receiver.received[0][1], receiver.received[0][2])
    assert sent["task"]["id"] == answer["task_id"] and sent["task"]["status"] == "succeeded"
    assert WebhookAttempt.objects.get().status_code == 200
