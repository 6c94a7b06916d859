"""What the owner does from "My videos", as services: cancel, run again, delete with the files; someone else's
task is not found, whatever they ask."""

from __future__ import annotations

import pytest

from jobs import quotas, services
from jobs.models import Batch, BatchItem, ProcessingTask, ProgressUpdate

pytestmark = pytest.mark.django_db


def ended(task: ProcessingTask, status: str = "succeeded") -> ProcessingTask:
    ProcessingTask.objects.filter(pk=task.pk).update(status=status)
    task.refresh_from_db()
    return task


def test_it_cancels_a_queued_task_of_the_owner(make_task, owner, h264_file):
    task = make_task(h264_file)
    assert services.cancel_for_owner(owner=owner, task_id=task.pk) is True
    task.refresh_from_db()
    assert task.status == "cancelled" and task.events.last().type == "cancelled"
    assert services.cancel_for_owner(owner=owner, task_id=task.pk) is False  # already ended


def test_it_finds_nothing_of_another_users(make_task, outsider, h264_file):
    task = make_task(h264_file)
    for action in (services.cancel_for_owner, services.reprocess_for_owner, services.delete_task):
        with pytest.raises(ProcessingTask.DoesNotExist):
            action(owner=outsider, task_id=task.pk)
    task.refresh_from_db()
    assert task.status == "queued" and task.workdir().is_dir()


def test_it_runs_an_ended_task_again_as_a_new_one(make_task, owner, h264_file):
    task = ended(make_task(h264_file), "failed")
    new = services.reprocess_for_owner(owner=owner, task_id=task.pk)
    assert new.pk != task.pk and new.parent_id == task.pk and new.status == "queued"
    assert new.source_file().read_bytes() == task.source_file().read_bytes()
    assert ProgressUpdate.objects.filter(task=new, stage="queued").exists()


def test_it_refuses_to_run_again_what_is_still_running(make_task, owner, h264_file):
    task = make_task(h264_file, status="running")
    with pytest.raises(services.ActionRefused, match="still being processed"):
        services.reprocess_for_owner(owner=owner, task_id=task.pk)


def test_running_again_counts_against_the_queue_limit(make_task, owner, h264_file, settings):
    settings.USER_MAX_QUEUED = 1
    make_task(h264_file)  # one waiting already
    task = ended(make_task(h264_file))
    with pytest.raises(quotas.LimitReached):
        services.reprocess_for_owner(owner=owner, task_id=task.pk)
    assert not task.reruns.exists()


def test_a_task_whose_file_is_gone_says_so(make_task, owner, h264_file):
    task = ended(make_task(h264_file))
    task.source_file().unlink()
    with pytest.raises(services.ActionRefused, match="no longer kept"):
        services.reprocess_for_owner(owner=owner, task_id=task.pk)


def test_a_captions_only_youtube_task_is_fetched_again(owner):
    task = ProcessingTask.objects.create(
        owner=owner, source="youtube", status="succeeded", params={"video_id": "dQw4w9WgXcQ", "download": False}
    )
    new = services.reprocess_for_owner(owner=owner, task_id=task.pk)
    new.refresh_from_db()
    assert new.parent_id == task.pk and new.options.video_id == "dQw4w9WgXcQ" and new.status == "queued"


def test_delete_removes_the_row_its_events_and_every_file(
    make_task, owner, h264_file, django_capture_on_commit_callbacks
):
    task = ended(make_task(h264_file))
    (task.workdir() / "chunks").mkdir()
    (task.workdir() / "chunks" / "00000.ts").write_bytes(b"x" * 100)
    batch = Batch.objects.create(owner=owner)
    BatchItem.objects.create(batch=batch, position=0, source=str(task.pk), task=task)
    folder = task.workdir()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_task(owner=owner, task_id=task.pk)
    assert not ProcessingTask.objects.filter(pk=task.pk).exists()
    assert not ProgressUpdate.objects.filter(task_id=task.pk).exists()
    assert not folder.exists()
    item = batch.items.get()
    assert item.task is None and item.error == "This video was deleted."
    assert batch.summary()["refused"] == 1


def test_delete_cancels_a_task_that_has_not_started(make_task, owner, h264_file, django_capture_on_commit_callbacks):
    task = make_task(h264_file)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_task(owner=owner, task_id=task.pk)
    assert not ProcessingTask.objects.filter(pk=task.pk).exists() and not task.workdir().exists()


def test_delete_refuses_a_running_task(make_task, owner, h264_file):
    task = make_task(h264_file, status="running")
    with pytest.raises(services.ActionRefused, match="cancel it first"):
        services.delete_task(owner=owner, task_id=task.pk)
    assert task.source_file().is_file()


def test_delete_waits_for_a_piece_being_made_again_and_a_late_job_writes_nothing(
    make_task, owner, h264_file, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from jobs import tasks
    from jobs.models import Idea

    task = ended(make_task(h264_file))
    idea = Idea.objects.create(task=task, index=0, kind="reel", title="A reel", end=5, status="rendered")
    assert services.request_regenerate(idea=idea) is True  # the Regenerate button: the piece is pending again
    with pytest.raises(services.ActionRefused, match="being made again"):
        services.delete_task(owner=owner, task_id=task.pk)
    assert task.source_file().is_file()
    lost = timezone.now() - timedelta(seconds=settings.REGENERATE_STALE_AFTER + 5)
    Idea.objects.filter(pk=idea.pk).update(updated_at=lost)  # its job was lost: the delete is not held forever
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_task(owner=owner, task_id=task.pk)
    assert not task.workdir().exists()
    # Jobs queued before the delete run after it: they find no row and write no file.
    assert tasks.regenerate_piece(idea.pk) == "deleted"
    assert tasks.regenerate_kit_image(str(task.pk), "thumbnail", 0, "frame") == "deleted"
    assert not task.workdir().exists()
