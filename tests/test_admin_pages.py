"""The task admin as an operator reads it: one line per event with its data folded, times to the second,
nothing editable on a task that has started, a link to the watch page, the list filters."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from jobs.models import ProcessingTask, ProgressUpdate
from jobs.reporter import emit

pytestmark = pytest.mark.django_db

WORDS = [{"w": f"word{i}", "s": i * 0.3, "e": i * 0.3 + 0.25} for i in range(400)]


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user("olga", "olga@example.com", "olga-pass-1234", is_staff=True)
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def _task(owner, status: str) -> ProcessingTask:
    task = ProcessingTask.objects.create(
        owner=owner, title="talk.mp4", status=status, params={"interval": 30, "commentary": True}
    )
    emit(task.pk, "stage", stage="chunk", progress=10, message="Cutting chunk 1 of 3")
    emit(
        task.pk, "transcript_ready", stage="chunk", progress=40, message="Interval 1 transcribed", data={"words": WORDS}
    )
    return task


def test_it_shows_each_event_on_one_line_with_its_json_folded(staff, owner):
    task = _task(owner, "succeeded")
    html = staff.get(f"/admin/jobs/processingtask/{task.pk}/change/").content.decode()
    event = ProgressUpdate.objects.get(task=task, type="transcript_ready")
    when = timezone.localtime(event.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert when in html  # to the second
    assert "Interval 1 transcribed" in html
    # The 400 words are there, but folded under a one-line summary.
    assert re.search(r"<details class=\"folded\"><summary>data <span class=\"quiet\">\(1 keys, \d+ lines\)", html)
    assert html.count("word399") == 1
    assert re.search(r"<details class=\"folded\">.*?word399", html, re.S)


def test_a_finished_task_cannot_be_edited_and_links_to_its_watch_page(staff, owner):
    task = _task(owner, "succeeded")
    html = staff.get(f"/admin/jobs/processingtask/{task.pk}/change/").content.decode()
    assert 'name="params"' not in html and 'name="title"' not in html
    assert "&quot;interval&quot;: 30" in html  # shown, read-only
    assert f'href="/tasks/{task.pk}/"' in html
    # A post cannot change them either.
    staff.post(f"/admin/jobs/processingtask/{task.pk}/change/", {"params": '{"interval": 99}', "title": "x"})
    task.refresh_from_db()
    assert task.params["interval"] == 30 and task.title == "talk.mp4"


def test_a_queued_task_keeps_its_params_editable(staff, owner):
    task = _task(owner, "queued")
    html = staff.get(f"/admin/jobs/processingtask/{task.pk}/change/").content.decode()
    assert 'name="params"' in html and 'name="title"' in html


def test_the_list_keeps_its_filters_and_links_each_task(staff, owner, outsider):
    task = _task(owner, "running")
    _task(outsider, "queued")  # the owner filter shows when there is more than one owner
    html = staff.get("/admin/jobs/processingtask/").content.decode()
    assert 'id="changelist-filter"' in html
    for name in ("status", "kind", "source", "owner"):
        assert f"By {name}" in html or f"by {name}" in html
    assert f'href="/tasks/{task.pk}/"' in html
    assert timezone.localtime(task.created_at).strftime("%H:%M:%S") in html
