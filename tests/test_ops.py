"""Health, alerts, the disk guard, retention and the metrics endpoint's access, in-process."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from jobs.models import ProcessingTask, ProgressUpdate
from ops import alerts, retention
from ops.disk import DiskLow
from ops.models import Alert

HUGE = 10**18  # more free space than any disk has: the guard refuses without filling anything


def test_it_answers_liveness_without_touching_the_database(client):
    # No django_db mark: a query here would raise, so /healthz cannot depend on the database.
    r = client.get("/healthz")
    assert r.status_code == 200 and r.content == b"ok\n"


@pytest.mark.django_db
def test_readyz_checks_database_broker_channel_layer_and_disk(client, settings):
    r = client.get("/readyz")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "broker", "channel_layer", "disk"}
    settings.DISK_MIN_FREE_BYTES = HUGE
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["disk"]["ok"] is False
    assert "new work is refused" in r.json()["checks"]["disk"]["message"]


@pytest.fixture
def no_cluster(settings, tmp_path):
    """A cluster-heartbeat cache no qcluster writes to (not the machine's, where other runs' clusters beat)."""
    settings.CACHES = {
        **settings.CACHES,
        "qstat": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "qs")},
    }


@pytest.mark.django_db
def test_each_alert_fires_on_its_condition_and_shows_in_healthz_detail(
    client, settings, owner, no_cluster, django_user_model
):
    now = timezone.now()
    assert {a.name: a.firing for a in alerts.evaluate()} == {
        "stuck_task": False,
        "error_rate": False,
        "low_disk": False,
        "no_live_worker": True,  # nothing beats in the empty heartbeat cache
        "queue_too_old": False,
    }
    stuck = ProcessingTask.objects.create(owner=owner, status="running", heartbeat_at=now - timedelta(minutes=5))
    ProcessingTask.objects.create(owner=owner, status="queued", created_at=now - timedelta(minutes=30))
    for _ in range(4):
        ProcessingTask.objects.create(owner=owner, status="failed", finished_at=now - timedelta(minutes=10))
    ProcessingTask.objects.create(owner=owner, status="succeeded", finished_at=now - timedelta(minutes=10))
    ProcessingTask.objects.create(owner=owner, status="failed", finished_at=now - timedelta(hours=3))  # too old
    settings.ALERT_DISK_FREE_BYTES = HUGE
    first = {a.name: a for a in alerts.evaluate()}
    assert all(a.firing for a in first.values()), {a.name: a.message for a in first.values()}
    assert str(stuck.pk) in first["stuck_task"].message
    assert first["error_rate"].message == "4 of the last hour's 5 finished tasks failed (80%)"
    assert "waited 30 minutes" in first["queue_too_old"].message
    second = {a.name: a for a in alerts.evaluate()}
    assert second["stuck_task"].since == first["stuck_task"].since  # still the same episode

    detail = client.get("/healthz?detail=1").json()
    assert detail["status"] == "alerting"
    assert {a["name"] for a in detail["alerts"] if a["firing"]} == set(alerts.RULES)

    staff = django_user_model.objects.create_user("ops", "ops@example.com", "ops-pass-1234", is_staff=True)
    client.force_login(staff)
    text = client.get("/metrics").content.decode()
    assert 'repurposer_alert{name="stuck_task"} 1.0' in text
    ProcessingTask.objects.filter(pk=stuck.pk).update(status="succeeded", finished_at=now)
    alerts.evaluate()
    assert Alert.objects.get(name="stuck_task").firing is False
    assert 'repurposer_alert{name="stuck_task"} 0.0' in client.get("/metrics").content.decode()


@pytest.mark.django_db
def test_a_running_task_without_progress_is_stuck_even_with_a_heartbeat(owner, settings, no_cluster):
    now = timezone.now()
    task = ProcessingTask.objects.create(owner=owner, status="running", heartbeat_at=now)
    ProgressUpdate.objects.create(task=task, seq=1, type="stage", created_at=now - timedelta(minutes=20))
    settings.ALERT_STUCK_MINUTES = 15
    assert alerts.stuck_tasks()[0] is True
    settings.ALERT_STUCK_MINUTES = 30
    assert alerts.stuck_tasks()[0] is False


@pytest.mark.django_db
def test_metrics_need_staff_or_the_token(client, owner, settings):
    assert client.get("/metrics").status_code == 401
    client.force_login(owner)  # signed in, not staff
    assert client.get("/metrics").status_code == 401
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert r.status_code == 200
    assert "repurposer_disk_free_bytes" in r.content.decode()


@pytest.mark.django_db
def test_below_the_free_space_threshold_new_uploads_and_jobs_get_507_and_a_sentence(alice, settings, tmp_path):
    settings.DISK_MIN_FREE_BYTES = HUGE
    json = {"HTTP_ACCEPT": "application/json"}
    opened = alice.post(reverse("upload-start"), {"filename": "talk.mp4", "size": 5000, "interval": 30}, **json)
    assert opened.status_code == 507
    assert opened.json() == {"error": DiskLow.MESSAGE}
    video = tmp_path / "talk.mp4"
    video.write_bytes(os.urandom(3 * 1024 * 1024))  # over the in-memory limit: streamed to a temp file
    with open(video, "rb") as fh:
        form = alice.post(reverse("upload"), {"file": fh, "interval": 30}, **json)
    assert form.status_code == 507 and form.json() == {"error": DiskLow.MESSAGE}
    assert list((settings.MEDIA_ROOT / "incoming").iterdir()) == []  # nothing of it kept
    yt = alice.post(reverse("submit-youtube"), {"url": "https://youtu.be/dQw4w9WgXcQ", "interval": 30}, **json)
    assert yt.status_code == 507
    page = alice.post(
        reverse("submit-youtube"), {"url": "https://youtu.be/dQw4w9WgXcQ", "interval": 30}, HTTP_ACCEPT="text/html"
    )
    assert page.status_code == 507 and DiskLow.MESSAGE in page.content.decode()
    assert not ProcessingTask.objects.exists()
    settings.DISK_MIN_FREE_BYTES = 0
    assert (
        alice.post(reverse("upload-start"), {"filename": "talk.mp4", "size": 5000, "interval": 30}).status_code == 201
    )


def _finished(make_task, h264_file, *, days_ago: float) -> ProcessingTask:
    task = make_task(h264_file, status="succeeded")
    ProcessingTask.objects.filter(pk=task.pk).update(finished_at=timezone.now() - timedelta(days=days_ago))
    (task.workdir() / "chunks").mkdir(exist_ok=True)
    (task.workdir() / "chunks" / "00000.ts").write_bytes(b"\0" * 1000)
    task.refresh_from_db()
    return task


@pytest.mark.django_db
def test_retention_deletes_by_age_then_oldest_first_under_pressure(make_task, h264_file, settings):
    settings.RETENTION_DAYS = 30
    ancient = _finished(make_task, h264_file, days_ago=40)
    older = _finished(make_task, h264_file, days_ago=5)
    newer = _finished(make_task, h264_file, days_ago=1)
    running = make_task(h264_file, status="running")
    report = retention.apply()  # plenty of disk: age only
    assert report.purged == 1
    assert not ancient.workdir().exists() and older.workdir().exists() and newer.workdir().exists()

    # Under pressure: the disk "frees" as each folder goes; the oldest goes first and no more than needed.
    settings.DISK_MIN_FREE_BYTES = 1000
    report = retention.apply(free_bytes=lambda: 0 if older.workdir().exists() else 5000)
    assert report.purged == 1
    assert not older.workdir().exists() and newer.workdir().exists() and running.workdir().exists()
    older.refresh_from_db()
    assert older.media_deleted_at is not None


@pytest.mark.django_db
def test_a_purged_tasks_page_says_its_media_were_deleted_and_when(alice, make_task, h264_file, settings):
    task = _finished(make_task, h264_file, days_ago=40)
    settings.RETENTION_DAYS = 30
    call_command("cleanup", "--days", "30")
    task.refresh_from_db()
    page = alice.get(reverse("watch", args=[task.pk])).content.decode()
    assert "were deleted on" in page and task.media_deleted_at.strftime("%Y") in page
    assert 'id="player"' not in page  # no player offering chunks that 404


def test_cpu_bound_request_work_runs_in_another_process_and_keeps_its_sentences():
    from media_pipeline.transcript.subtitles import subtitle_problem
    from ops import offload

    assert offload.call(os.getpid) != os.getpid()
    assert offload.call(subtitle_problem, b"1\n00:00:01,000 --> 00:00:02,000\nHello there.\n\n", source="t") is None
    problem = offload.call(subtitle_problem, b"not subtitles at all", source="t")
    assert problem and problem.endswith(".")  # the refusal is a sentence for the user


def test_the_helper_processes_run_after_the_requests_when_cpu_is_short():
    """They are in the web server's session, so their CPU counts against its share: nice +10."""
    from ops import offload

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert offload.call(os.nice, 0) == min(19, mine + offload.NICE)
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    import subprocess
    import sys

    from .live import ROOT

    env = {
        **os.environ,
        "SECRET_KEY": "x" * 30 + "-production-secret-key-0123456789abcdef",
        "BEHIND_TLS_PROXY": "1",
        "ALLOWED_HOSTS": "video.example.com",
        "REPURPOSER_VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("DEBUG", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.django_db
def test_the_dashboard_is_for_staff_and_its_json_has_the_real_numbers(client, owner, django_user_model, no_cluster):
    from jobs.models import PerformanceMetrics

    assert client.get("/performance/").status_code == 302  # to the admin login
    client.force_login(owner)
    assert client.get("/performance/").status_code == 302  # not staff
    now = timezone.now()
    done = ProcessingTask.objects.create(owner=owner, status="succeeded", started_at=now - timedelta(seconds=90))
    ProcessingTask.objects.filter(pk=done.pk).update(finished_at=now)
    ProcessingTask.objects.create(owner=owner, status="failed", finished_at=now)
    ProcessingTask.objects.create(owner=owner, status="queued")
    for ms in (100, 200, 300):
        PerformanceMetrics.objects.create(task=done, operation="chunk", duration_ms=ms)
    PerformanceMetrics.objects.create(
        task=done,
        operation="provider.openai.chat",
        duration_ms=800,
        success=False,
        data={"retries": 2, "waited_ms": 50},
    )
    alerts.evaluate()  # also the minute sample
    staff = django_user_model.objects.create_user("ops", "ops@example.com", "ops-pass-1234", is_staff=True)
    client.force_login(staff)
    page = client.get("/performance/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "vendor/uplot/uPlot.iife.min.js" in html and 'id="ops-data"' in html
    d = client.get("/performance/", HTTP_ACCEPT="application/json").json()
    assert d["load"]["queue_size"] == 1 and d["load"]["avg_processing_seconds"] == 90.0
    assert sum(d["series"]["tasks_per_hour"]) == 3
    assert [r for r in d["series"]["error_rate"] if r is not None][-1] == 0.5
    assert d["series"]["chunk_p50_ms"][-1] == 200.0
    assert d["series"]["queue_depth"] == [1]
    assert d["providers"]["calls"]["openai.chat"] == {
        "count": 1,
        "success_rate": 0.0,
        "p50_ms": 800.0,
        "p95_ms": 800.0,
        "retries": 2,
    }
    assert {a["name"] for a in d["alerts"] if a["firing"]} >= {"no_live_worker"}
    # The script JSON of per-operation timings stays where it was.
    assert (
        client.get("/performance/metrics", HTTP_ACCEPT="application/json").json()["operations"]["chunk"]["count"] == 3
    )
    # The chart library is served as a static file.
    assert client.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200


@pytest.mark.django_db
def test_provider_calls_count_by_provider_operation_and_status(owner):
    from jobs.providers import call_recorder
    from media_pipeline.providers.http import CallRecord
    from ops import metrics

    def requests(status: str) -> float:
        return metrics.PROVIDER_REQUESTS.labels(provider="loopback", operation="chat", status=status)._value.get()

    task = ProcessingTask.objects.create(owner=owner)
    before_ok, before_429 = requests("200"), requests("429")
    waits_before = metrics.current("repurposer_ratelimit_wait_seconds")
    record = call_recorder(task.pk)
    common = {"provider": "loopback", "operation": "chat", "method": "POST", "path": "/v1/chat", "retries": 0}
    record(CallRecord(**common, status=200, duration_ms=120.0, ok=True, error="", waited_ms=40.0))
    record(CallRecord(**common, status=429, duration_ms=30.0, ok=False, error="rate limited", waited_ms=0.0))
    assert requests("200") == before_ok + 1 and requests("429") == before_429 + 1
    assert metrics.current("repurposer_ratelimit_wait_seconds") > waits_before  # sum and counts moved
