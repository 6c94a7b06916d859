"""YouTube links through the job engine: the form, captions-only jobs, captions + download + chunks,
and YouTube's refusals — against the loopback fake YouTube and a loopback video host (configuration only)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.engine import run_task
from jobs.models import ProcessingTask, ProgressUpdate

from . import media
from .fake_youtube import SURFACE_GO, FakeYouTube, Reply, VideoHost, player_with_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings):
    with FakeYouTube() as server:
        settings.YOUTUBE_BASE_URL = server.url
        yield server


def submit(client, url, **extra):
    """What the page sends with every box unticked (each box has a hidden "0"), plus `extra`."""
    unticked = {"download": "0", "commentary": "0", "ideas": "0", "force": "0"}
    return client.post(reverse("submit-youtube"), {"url": url, "interval": 30, **unticked, **extra})


def transcript_text(task) -> str:
    rows = ProgressUpdate.objects.filter(task=task, type="transcript_ready").order_by("seq")
    return " ".join(seg["text"] for row in rows for seg in row.data["segments"])


def test_the_form_accepts_a_youtube_link_and_refuses_others(alice, fake):
    response = submit(alice, f"https://youtu.be/{SURFACE_GO}?t=42")
    task = ProcessingTask.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("watch", args=[task.pk])
    assert task.source == "youtube" and task.params["video_id"] == SURFACE_GO
    refused = submit(alice, "http://169.254.169.254/latest/meta-data/")
    assert refused.status_code == 200 and ProcessingTask.objects.count() == 1
    assert refused.context["youtube_form"].errors["url"]


def test_a_captions_only_job_gives_the_transcript_without_a_video(alice, fake):
    submit(alice, f"https://www.youtube.com/watch?v={SURFACE_GO}")  # the checkbox left unticked: captions only
    task = ProcessingTask.objects.get()
    assert task.params["download"] is False
    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    assert task.result["transcript"] == "youtube:manual" and task.result["video"] is False
    assert "hey, this is just a test" in transcript_text(task).lower()
    srt = alice.get(reverse("transcript", args=[str(task.pk), "srt"])).content.decode()
    assert srt.startswith("1\n00:00:0")


def test_captions_then_download_then_chunks(alice, fake, settings, tmp_path):
    clip = media.h264_aac(tmp_path / "clip.mp4", seconds=12).read_bytes()
    with VideoHost({f"/{SURFACE_GO}.mp4": Reply(body=clip, content_type="video/mp4")}) as host:
        settings.YOUTUBE_WATCH_URL = host.url + "/{id}.mp4"
        settings.YOUTUBE_EXTRACTORS = ("generic",)
        submit(alice, SURFACE_GO, download="on")
        task = ProcessingTask.objects.get()
        assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    types = list(ProgressUpdate.objects.filter(task=task).values_list("type", "stage"))
    assert ("progress", "download") in types
    assert [t for t in types if t[0] == "chunk_ready"] == [("chunk_ready", "chunk")]
    assert task.source_file().read_bytes() == clip
    assert task.result["transcript"] == "youtube:manual"  # captions win over speech recognition
    assert "hey, this is just a test" in transcript_text(task).lower()


def test_youtube_refusing_everything_ends_the_job_with_its_reason(alice, fake):
    fake.players[SURFACE_GO] = player_with_status("LOGIN_REQUIRED", "This video is private")
    submit(alice, SURFACE_GO, download="")
    task = ProcessingTask.objects.get()
    assert run_task(str(task.pk)) == "failed"
    task.refresh_from_db()
    assert "private" in task.error.lower() and task.error.endswith(".")
    assert ProgressUpdate.objects.filter(task=task).last().type == "error"


def test_the_same_video_again_opens_the_earlier_result_unless_forced(alice, fake):
    submit(alice, SURFACE_GO)
    first = ProcessingTask.objects.get()
    again = submit(alice, f"https://youtu.be/{SURFACE_GO}")
    assert again["Location"] == reverse("watch", args=[first.pk]) and ProcessingTask.objects.count() == 1
    forced = submit(alice, SURFACE_GO, force="on")
    assert ProcessingTask.objects.count() == 2 and forced["Location"] != again["Location"]
