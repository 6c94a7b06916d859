"""Events as the page sees them: the bar never moves back, the time left is never below a second."""

from __future__ import annotations

import pytest

from jobs.models import ProcessingTask
from jobs.reporter import emit

pytestmark = pytest.mark.django_db


def test_a_new_attempt_continues_from_the_progress_already_reached(owner):
    task = ProcessingTask.objects.create(owner=owner, status="running", attempts=1)
    emit(task.pk, "chunk_ready", stage="chunk", progress=92)
    # A takeover: the new attempt counts its own work from 0 again.
    seen = [emit(task.pk, "stage", stage="probe", progress=p).as_event()["progress"] for p in (0, 10, 91, 95)]
    assert seen == [92, 92, 92, 95]
    task.refresh_from_db()
    assert task.progress == 95
