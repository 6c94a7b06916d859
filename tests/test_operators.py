"""Operators: the reprocess command and the admin (list, filters, inlines, actions)."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from jobs.models import ProcessingTask

pytestmark = pytest.mark.django_db(transaction=True)


def test_reprocess_runs_a_task_again_as_a_new_task(make_task, h264_file, capsys):
    old = make_task(h264_file, status="failed", error="boom", transcribe=False)
    call_command("reprocess", str(old.pk), "--inline")
    new = ProcessingTask.objects.get(parent=old)
    assert new.status == "succeeded" and new.owner == old.owner and new.params == old.params
    assert new.source_file().read_bytes() == old.source_file().read_bytes()
    old.refresh_from_db()
    assert old.status == "failed"  # the old task and its record stay as they were
    out = capsys.readouterr()
    assert f"{old.pk} → {new.pk}" in out.out and f"{new.pk} succeeded" in out.out


def test_reprocess_failed_picks_only_failed_tasks(make_task, h264_file):
    failed = make_task(h264_file, status="failed")
    make_task(h264_file, status="succeeded")
    call_command("reprocess", "--failed", "--no-wait")
    assert list(ProcessingTask.objects.filter(parent__isnull=False).values_list("parent", flat=True)) == [failed.pk]


def test_reprocess_since_filters_by_creation_date(make_task, h264_file):
    from datetime import datetime

    make_task(h264_file, created_at=datetime(2026, 10, 1, tzinfo=UTC))
    recent = make_task(h264_file, created_at=datetime(2026, 11, 5, tzinfo=UTC))
    call_command("reprocess", "--since", "2026-11-01", "--no-wait")
    assert list(ProcessingTask.objects.filter(parent__isnull=False).values_list("parent", flat=True)) == [recent.pk]


def test_reprocess_explains_bad_arguments(make_task, h264_file):
    with pytest.raises(CommandError, match="Name task ids"):
        call_command("reprocess")
    with pytest.raises(CommandError, match="is not a date"):
        call_command("reprocess", "--since", "yesterday")
    with pytest.raises(CommandError, match="No such task"):
        call_command("reprocess", "00000000-0000-0000-0000-000000000000")


@pytest.fixture
def operator(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1234")
    client.force_login(admin)
    return client


def test_admin_lists_filters_and_shows_events_and_metrics(operator, make_task, h264_file):
    from jobs.engine import run_task

    task = make_task(h264_file, transcribe=False)
    run_task(str(task.pk))
    listing = operator.get(reverse("admin:jobs_processingtask_changelist") + "?status__exact=succeeded&q=alice")
    assert listing.status_code == 200 and task.title in listing.content.decode()
    assert (
        operator.get(reverse("admin:jobs_processingtask_changelist") + "?status__exact=failed")
        .context["cl"]
        .result_count
        == 0
    )
    detail = operator.get(reverse("admin:jobs_processingtask_change", args=[task.pk])).content.decode()
    assert "chunk_ready" in detail and "finalize" in detail  # events and metrics inline


def test_admin_actions_cancel_and_reprocess(operator, make_task, h264_file):
    queued = make_task(h264_file)
    url = reverse("admin:jobs_processingtask_changelist")
    operator.post(url, {"action": "cancel_tasks", "_selected_action": [str(queued.pk)]})
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    operator.post(url, {"action": "reprocess_tasks", "_selected_action": [str(queued.pk)]})
    assert ProcessingTask.objects.filter(parent=queued, status="queued").count() == 1


def test_cleanup_deletes_old_media_but_keeps_the_record(make_task, h264_file, capsys):
    from datetime import timedelta

    from django.utils import timezone

    old = make_task(h264_file, status="succeeded", finished_at=timezone.now() - timedelta(days=40))
    recent = make_task(h264_file, status="succeeded", finished_at=timezone.now() - timedelta(days=2))
    running = make_task(h264_file, status="running")
    call_command("cleanup", "--days", "30", "--dry-run")
    assert old.workdir().exists()
    call_command("cleanup", "--days", "30")
    assert not old.workdir().exists()
    assert recent.workdir().exists() and running.workdir().exists()
    old.refresh_from_db()
    assert old.result["media_deleted"] is True
    assert "Freed" in capsys.readouterr().out
