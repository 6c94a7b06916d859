"""Events as the page sees them: the bar never moves back, the time left is never below a second."""

from __future__ import annotations

import time

import pytest

from jobs.models import ProcessingTask
from jobs.reporter import emit
from jobs.run import Progress

pytestmark = pytest.mark.django_db


def test_a_new_attempt_continues_from_the_progress_already_reached(owner):
    task = ProcessingTask.objects.create(owner=owner, status="running", attempts=1)
    emit(task.pk, "chunk_ready", stage="chunk", progress=92)
    # A takeover: the new attempt counts its own work from 0 again.
    seen = [emit(task.pk, "stage", stage="probe", progress=p).as_event()["progress"] for p in (0, 10, 91, 95)]
    assert seen == [92, 92, 92, 95]
    task.refresh_from_db()
    assert task.progress == 95


@pytest.mark.parametrize("eta", [-3, -0.4, 0, 0.3])
def test_an_eta_is_never_below_one_second(owner, eta):
    task = ProcessingTask.objects.create(owner=owner, status="running", attempts=1)
    event = emit(task.pk, "chunk_ready", stage="chunk", progress=86, eta_seconds=eta).as_event()
    assert event["eta_s"] == 1
    task.refresh_from_db()
    assert task.eta_seconds == 1


def test_an_eta_without_one_stays_none(owner):
    task = ProcessingTask.objects.create(owner=owner, status="running", attempts=1)
    assert emit(task.pk, "stage", stage="chunk", progress=10, eta_seconds=None).as_event()["eta_s"] is None


@pytest.mark.parametrize(("done", "total"), [(10, 10), (12, 10)])
def test_the_pipelines_estimate_is_at_least_a_second_when_all_units_are_counted(done, total):
    # Units done can reach (or, after a takeover, pass) the total while the final video is still joined.
    progress = Progress(total=total, position=lambda fraction: fraction * 100)
    progress.started = time.monotonic() - 30
    progress.done = done
    assert progress.eta() >= 1


@pytest.mark.django_db(transaction=True)
def test_a_wake_up_that_cannot_start_its_thread_neither_fails_the_event_nor_drops_the_end_webhook(
    owner, settings, monkeypatch
):
    """The row is committed before the wake-up: a sender that cannot start ("can't start new thread") only
    costs the safety poll's delay; emit returns and the task-ended webhook hook after it still runs."""
    import threading

    from jobs import wakeups
    from jobs.models import WebhookDelivery

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # queued only: the thread that would send never starts

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(wakeups, "_sender", wakeups.Sender())
    monkeypatch.setattr(threading.Thread, "start", refuse)
    task = ProcessingTask.objects.create(
        owner=owner, title="t", status=ProcessingTask.Status.SUCCEEDED, webhook_url="http://127.0.0.1:1/hook"
    )
    row = emit(task.pk, "complete", stage="done", progress=100)
    monkeypatch.undo()
    assert ProcessingTask.objects.get(pk=task.pk).last_seq == row.seq
    assert WebhookDelivery.objects.filter(task=task, event=WebhookDelivery.Event.TASK_ENDED).count() == 1
