"""`manage.py generate`: one script or a batch, checked with sentences, run under a concurrency limit."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from jobs.models import ProcessingTask

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1234")


def test_a_batch_runs_every_entry_and_one_bad_entry_stops_nothing(admin_user, tmp_path, settings):
    settings.LLM_PROVIDER = "offline"
    batch = tmp_path / "batch.txt"
    batch.write_text("Short one. It ends here.\n\nprompt: cats in space\n\nAnother short script.\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="Some videos could not be made"):
        call_command(
            "generate", "--batch", str(batch), "--inline", "--concurrency", "2", "--aspect", "1:1",
            "--no-captions", stdout=out, stderr=err,
        )  # fmt: skip
    tasks = list(ProcessingTask.objects.order_by("created_at"))
    assert [t.status for t in tasks] == ["succeeded", "succeeded"]  # the prompt was refused before a task
    assert all(t.files.final.exists() and t.owner == admin_user for t in tasks)
    table = out.getvalue()
    assert "needs a language model" in err.getvalue() and "refused: " in table
    assert table.count("succeeded") == 2 and "MB" in table and "final.mp4" in table


def test_a_bad_request_is_a_sentence_not_a_traceback(admin_user, tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("Hello.", encoding="utf-8")
    with pytest.raises(CommandError, match="could not be read"):
        call_command("generate", "--script", str(tmp_path / "missing.txt"), stdout=io.StringIO())
    err = io.StringIO()
    call_command("generate", "--script", str(script), "--aspect", "4:3", stdout=io.StringIO(), stderr=err)
    assert "must be one of 9:16, 16:9, 1:1" in err.getvalue()
    assert not ProcessingTask.objects.exists()


def test_without_wait_it_queues_and_prints_the_task(admin_user, tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("Hello there.", encoding="utf-8")
    out = io.StringIO()
    call_command("generate", "--script", str(script), "--title", "Hi", stdout=out)
    task = ProcessingTask.objects.get()
    assert task.status == "queued" and task.title == "Hi" and f"queued as task {task.pk}" in out.getvalue()


def test_the_bars_follow_scenes_generation_and_download(admin_user, tmp_path, settings):
    from .fake_veo import FakeVeo, sample_video

    script = tmp_path / "s.txt"
    script.write_text("Rock wears away. Water wins in the end.", encoding="utf-8")
    with FakeVeo(video=sample_video(seconds=2), generation_seconds=1.5) as fake:
        settings.VIDEO_PROVIDER = "veo"
        settings.VEO_BASE_URL = fake.base_url
        settings.GEMINI_API_KEY = fake.api_key
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "generate", "--script", str(script), "--inline", "--visuals", "generated", "--aspect", "16:9",
            "--no-captions", stdout=out, stderr=err,
        )  # fmt: skip
    task = ProcessingTask.objects.get()
    assert task.status == "succeeded"
    visuals = [e.data for e in task.events.filter(type="progress") if e.data.get("visual")]
    states = {d["visual"] for d in visuals}
    assert {"submitted", "downloading"} <= states
    last = [d for d in visuals if d["visual"] == "downloading"][-1]
    assert last["bytes"] == last["total"] > 0 and last["speed"] > 0
    drawn = err.getvalue()
    scenes = len(task.chunks())
    assert f"scene 0/{scenes}" in drawn and f"done · scene {scenes}/{scenes}" in drawn  # the scenes, as made
    assert "scene 1: generating" in drawn and "polls" in drawn  # the provider's generation
    assert "scene 1: downloading" in drawn and "MB/s" in drawn and "B/s" in drawn  # bytes, speed, ETA
    assert "succeeded" in out.getvalue() and "final.mp4" in out.getvalue()
