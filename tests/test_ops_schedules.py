"""The ops schedules (ops/migrations/0001_initial.py: alerts every minute, retention daily) as they are built:
django-q2 Schedule rows that a real qcluster's scheduler hands to its workers, which do the work."""

from __future__ import annotations

import importlib
import pydoc
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from django_q.models import Schedule
from django_q.models import Task as QueueTask

from jobs import reporter
from jobs.models import ProgressUpdate
from ops import alerts, tasks
from ops.models import Alert, Sample

from .live import running_stack
from .test_ops import _finished

SCHEDULES = importlib.import_module("ops.migrations.0001_initial").SCHEDULES


@pytest.mark.django_db
def test_the_migrations_install_both_schedules_pointing_at_the_ops_tasks():
    rows = {s.name: s for s in Schedule.objects.filter(name__in=list(SCHEDULES))}
    assert set(rows) == {"compute-alerts", "apply-retention"}
    minute, daily = rows["compute-alerts"], rows["apply-retention"]
    assert (minute.schedule_type, minute.minutes, minute.repeats) == (Schedule.MINUTES, 1, -1)
    assert (daily.schedule_type, daily.repeats) == (Schedule.DAILY, -1)
    # The worker finds a schedule's function by its dotted name, as here (django_q.worker uses pydoc.locate).
    assert pydoc.locate(minute.func) is tasks.compute_alerts
    assert pydoc.locate(daily.func) is tasks.apply_retention


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_real_qcluster_runs_the_schedules_and_they_do_their_work(media_root, make_task, h264_file, owner):
    # What the sweep has to find: a running task that still beats but wrote no event for 20 minutes (a stale
    # heartbeat would have the jobs sweep take it over first), and a video that finished 40 days ago
    # (RETENTION_DAYS is 30), whose media the daily schedule deletes.
    stuck = make_task(h264_file, status="running", heartbeat_at=timezone.now() + timedelta(minutes=10))
    event = reporter.emit(stuck.pk, "progress", stage="chunk", progress=10)
    ProgressUpdate.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=20))
    ancient = _finished(make_task, h264_file, days_ago=40)
    kept = _finished(make_task, h264_file, days_ago=1)
    # The migration's rows (a transactional test starts from empty tables), due now.
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={**fields, "next_run": timezone.now()})
    started = timezone.now()

    with running_stack(connection.settings_dict, media_root, web=False, extra_env={"RETENTION_DAYS": "30"}):
        deadline = time.monotonic() + 150  # the cluster's scheduler looks every 30 s; a loaded machine is slower
        while time.monotonic() < deadline:
            close_old_connections()
            done = set(QueueTask.objects.filter(started__gte=started).values_list("func", flat=True))
            if {"ops.tasks.compute_alerts", "ops.tasks.apply_retention"} <= done:
                break
            time.sleep(1)
        close_old_connections()
        runs = list(QueueTask.objects.filter(started__gte=started).values_list("func", "success", "result"))

    assert {(func, ok) for func, ok, _ in runs} >= {
        ("ops.tasks.compute_alerts", True),
        ("ops.tasks.apply_retention", True),
    }, runs
    # The alerts sweep: every rule checked, the stuck task found, the minute's sample written.
    verdicts = {a.name: a for a in Alert.objects.all()}
    assert set(verdicts) == set(alerts.RULES)
    assert verdicts["stuck_task"].firing and str(stuck.pk) in verdicts["stuck_task"].message
    assert all(a.checked_at >= started for a in verdicts.values())
    assert Sample.objects.filter(at__gte=started, running=1).exists()
    # Retention: the old video's media are gone (its row says so), the recent one's are kept.
    assert not ancient.workdir().exists() and kept.workdir().exists()
    ancient.refresh_from_db()
    assert ancient.media_deleted_at is not None
    # Both schedules moved on: the minute one about a minute ahead, the daily one a day.
    minute = Schedule.objects.get(name="compute-alerts")
    daily = Schedule.objects.get(name="apply-retention")
    assert started < minute.next_run <= timezone.now() + timedelta(minutes=2)
    assert daily.next_run > started + timedelta(hours=23)
