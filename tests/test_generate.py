"""The "make a video" task in-process: a script becomes a narrated, captioned MP4, scene by scene."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from jobs import services
from jobs.engine import run_task
from jobs.models import ProcessingTask, ProgressUpdate
from media_pipeline.generate.request import GenerateRequest

from .generated_checks import check_generated

pytestmark = pytest.mark.django_db(transaction=True)

SHORT = "Water finds the weakest rock. It keeps going, flood after flood, for millions of years."
SCRIPT = (
    "Rivers carve canyons over millions of years. Water finds the weakest rock, and it keeps going. "
    "Every flood moves stones the size of cars. What looks permanent is only slow."
)


def submit(owner, **data) -> ProcessingTask:
    return services.submit_generate(owner=owner, request=GenerateRequest.from_data(data))


def test_it_makes_a_narrated_captioned_video_scene_by_scene(owner, tmp_path):
    task = submit(owner, script=SCRIPT, aspect="1:1", title="Slow water")
    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    events = list(ProgressUpdate.objects.filter(task=task).order_by("seq"))
    scenes = [e.data for e in events if e.type == "chunk_ready"]
    assert len(scenes) >= 3 and [s["index"] for s in scenes] == list(range(len(scenes)))
    assert events[-1].type == "complete"  # every scene announced before the end
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    # Scenes follow each other with no gap; each clip is on disk where its event says.
    for before, after in zip(scenes, scenes[1:], strict=False):
        assert after["start"] == pytest.approx(before["end"], abs=1e-3)
    assert all(task.files.chunk(s["index"]).stat().st_size > 5_000 for s in scenes)
    assert task.result["title"] == "Slow water" and task.result["script"] == SCRIPT
    check_generated(task.files.final, scenes, tmp_path, script=SCRIPT)


def test_a_takeover_keeps_the_scenes_already_made(owner, settings):
    task = submit(owner, script=SHORT, aspect="1:1", captions=False)
    assert run_task(str(task.pk)) == "succeeded"
    first = {s["index"]: task.files.chunk(s["index"]).stat().st_mtime_ns for s in task.chunks()}
    # As if the worker had died after the scenes: the task is running again, its final video gone.
    task.files.final.unlink()
    ProcessingTask.objects.filter(pk=task.pk).update(status="running", heartbeat_at=None, worker="dead:1")
    ProcessingTask.objects.filter(pk=task.pk).update(status="queued")
    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    assert task.attempts == 2 and task.files.final.exists()
    assert {s["index"]: task.files.chunk(s["index"]).stat().st_mtime_ns for s in task.chunks()} == first
    counts = ProgressUpdate.objects.filter(task=task, type="chunk_ready").count()
    assert counts == len(first)  # no scene announced twice


def test_cancel_stops_it_and_keeps_what_was_made(owner):
    task = submit(owner, script=" ".join([SCRIPT] * 4), aspect="1:1")
    results = []

    def work():
        try:
            results.append(run_task(str(task.pk)))
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    # Cancel as soon as the first scene is out.
    while not ProgressUpdate.objects.filter(task=task, type__in=("chunk_ready", "error")).exists():
        thread.join(0.1)
    services.request_cancel(task=task)
    thread.join(60)
    assert results == ["cancelled"]
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert 1 <= len(task.chunks()) < ProgressUpdate.objects.get(task=task, type="stage", stage="speech").data["chunks"]


def test_a_prompt_without_a_language_model_says_a_script_is_needed(owner, settings):
    settings.LLM_PROVIDER = "offline"
    task = submit(owner, prompt="Why is the sky blue?")
    assert run_task(str(task.pk)) == "failed"
    task.refresh_from_db()
    assert "needs a language model" in task.error and "Paste a script" in task.error


@pytest.mark.parametrize(
    ("data", "field", "sentence"),
    [
        ({}, "script", "Paste a script"),
        ({"script": "Hi.", "prompt": "x"}, "prompt", "not several"),
        ({"script": "Hi.", "aspect": "4:3"}, "aspect", "must be one of 9:16, 16:9, 1:1"),
        ({"script": "Hi.", "length": "long"}, "length", "whole number"),
        ({"script": "Hi.", "length": 5}, "length", "between 10 and 300"),
        ({"script": "…!?"}, "script", "no words"),
        ({"script": "x" * 20_001}, "script", "the limit is 20,000"),
    ],
)
def test_bad_requests_get_sentences(data, field, sentence):
    from media_pipeline.generate.request import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        GenerateRequest.from_data(data)
    assert sentence in " ".join(caught.value.errors[field])


def test_the_admins_reprocess_makes_the_video_again_as_a_new_task(owner):
    task = submit(owner, script=SHORT, aspect="1:1", captions=False)
    again = services.reprocess(task=task)
    assert again.pk != task.pk and again.parent == task and again.kind == "generate"
    assert again.params == task.params and again.status == "queued"


def test_generated_visuals_fill_the_scenes_and_a_failed_one_keeps_its_card(owner, settings, tmp_path):
    from PIL import Image, ImageStat

    from .fake_veo import FakeVeo, sample_video
    from .generated_checks import streams

    with FakeVeo(video=sample_video(seconds=2), generation_seconds=0.2) as fake:
        settings.VIDEO_PROVIDER = "veo"
        settings.VEO_BASE_URL = fake.base_url
        settings.GEMINI_API_KEY = fake.api_key
        fake.script("ok", "fail")
        task = submit(owner, script=SHORT, aspect="16:9", captions=False, visuals="generated", title="Rock")
        assert run_task(str(task.pk)) == "succeeded"
        prompts = sorted(op.prompt for op in fake.operations.values())
    task.refresh_from_db()
    scenes = task.chunks()
    assert len(scenes) == 2 and prompts == sorted(f"Rock. {s['text']}" for s in scenes)
    # The two were generated at once, so either may have drawn the failure.
    (note,) = [e for e in task.events.filter(type="stage") if e.data.get("visual_error")]
    failed = note.data["index"]
    assert note.message == (
        f"Scene {failed + 1} keeps its title card: The video generation service (Veo) could not make this video: "
        "The prompt was flagged by the safety filter."
    )
    info = streams(task.files.final)
    assert abs(info["format"] - sum(s["duration"] for s in scenes)) <= 1 / 25
    assert (int(info["video"]["width"]), int(info["video"]["height"])) == (1280, 720)
    # The other scene shows the generated clip (testsrc2: bright colours), the failed one its dark
    # title card.
    looks = []
    for scene in scenes:
        png = tmp_path / f"scene-{scene['index']}.png"
        media_ffmpeg = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-ss",
            f"{scene['start'] + 0.5:.2f}",
            "-i",
            str(task.files.final),
        ]
        import subprocess

        subprocess.run([*media_ffmpeg, "-frames:v", "1", str(png)], check=True, timeout=60)
        with Image.open(png) as image:
            looks.append(ImageStat.Stat(image.convert("L")).mean[0])  # mean brightness
    assert looks[1 - failed] > 80 and looks[failed] < 50, looks
