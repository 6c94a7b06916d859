"""The reel options (framing, sizes, captions, tight cuts) at every entry point: defaults left out of the stored
params, a choice from the page or the API kept, a bad one refused with a sentence; and every size renders."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from jobs.layout import TaskFiles
from jobs.models import ProcessingTask
from jobs.options import JobOptions
from media_pipeline.probe import Limits, probe
from media_pipeline.render.fonts import default_fonts
from media_pipeline.render.reel import render_reel

from . import pieces_media as pm

pytestmark = pytest.mark.django_db


def video(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, f"bytes of {name}".encode(), content_type="video/mp4")


def api(owner) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.create_for(user=owner, name='tests')[1]}")


def test_defaults_are_left_out_and_old_tasks_read_the_defaults(alice, media_root):
    response = alice.post(reverse("upload-start"), {"filename": "a.mp4", "size": 10, "interval": 30})
    params = ProcessingTask.objects.get(pk=response.json()["task_id"]).params
    assert not {"reel_framing", "reel_aspects", "caption_preset", "tight_cuts", "cut_fillers"} & set(params)
    options = JobOptions.from_params({"ideas": True})
    assert (options.reel_framing, options.caption_preset, options.tight_cuts, options.cut_fillers) == (
        "speaker",
        "pop",
        True,
        False,
    )
    assert options.reel_sizes == [("9:16", 1080, 1920)]


def test_the_page_and_the_api_choose_sizes_captions_and_cuts(alice, owner, media_root):
    page = alice.post(
        reverse("upload-start"),
        {
            "filename": "a.mp4",
            "size": 10,
            "interval": 30,
            "reel_aspects": ["16:9", "9:16", "1:1"],
            "caption_preset": "karaoke",
            "tight_cuts": "0",
            "cut_fillers": ["0", "on"],
            "reel_framing": "blur",
        },
    )
    params = ProcessingTask.objects.get(pk=page.json()["task_id"]).params
    assert params["reel_aspects"] == ["9:16", "1:1", "16:9"]  # the page's order
    assert (params["caption_preset"], params["tight_cuts"], params["cut_fillers"], params["reel_framing"]) == (
        "karaoke",
        False,
        True,
        "blur",
    )
    assert JobOptions.from_params(params).reel_sizes == [
        ("9:16", 1080, 1920),
        ("1:1", 1080, 1080),
        ("16:9", 1920, 1080),
    ]
    client = api(owner)
    as_json = client.post(
        reverse("api-create"),
        {"youtube_url": "https://youtu.be/dQw4w9WgXcQ", "reel_aspects": ["4:5"], "caption_preset": "clean"},
        content_type="application/json",
    )
    assert as_json.status_code == 202, as_json.content
    stored = ProcessingTask.objects.get(pk=as_json.json()["task_id"]).params
    assert stored["reel_aspects"] == ["4:5"] and stored["caption_preset"] == "clean"
    comma = client.post(reverse("api-create"), {"file": video("c.mp4"), "reel_aspects": "1:1, 9:16"})
    assert comma.status_code == 202, comma.content
    assert ProcessingTask.objects.get(pk=comma.json()["task_id"]).params["reel_aspects"] == ["9:16", "1:1"]


def test_a_size_or_preset_that_does_not_exist_is_refused_with_a_sentence(owner, media_root):
    client = api(owner)
    bad = client.post(reverse("api-create"), {"file": video("c.mp4"), "reel_aspects": "9:16,3:2"})
    assert bad.status_code == 400
    assert "3:2" in bad.json()["errors"]["reel_aspects"][0]
    preset = client.post(reverse("api-create"), {"file": video("d.mp4"), "caption_preset": "{\\b1}"})
    assert preset.status_code == 400 and preset.json()["errors"]["caption_preset"]
    assert not ProcessingTask.objects.exists()


def test_each_size_has_its_own_name_served_as_a_download():
    names = [TaskFiles.reel_name(2, 3, a) for a in ("9:16", "1:1", "4:5", "16:9")]
    assert names == [
        "pieces/03/reel-v3.mp4",
        "pieces/03/reel-v3-1x1.mp4",
        "pieces/03/reel-v3-4x5.mp4",
        "pieces/03/reel-v3-16x9.mp4",
    ]
    assert all(TaskFiles.content_type(n) == "video/mp4" and TaskFiles.is_download(n) for n in names)
    assert TaskFiles.content_type(TaskFiles.poster_name(2, 3)) == "image/jpeg"
    assert TaskFiles.content_type("pieces/03/reel-v3-../x.mp4") is None


@pytest.mark.parametrize(("width", "height"), [(360, 360), (360, 450), (640, 360)])
def test_every_aspect_renders_at_its_size(tmp_path, width, height):
    src = pm.landscape(tmp_path / "src.mp4", seconds=2, size="640x360")
    info = probe(src, limits=Limits(max_duration=3600, max_width=4096, max_height=4096, max_fps=120, max_streams=8))
    reel = render_reel(
        src,
        info,
        start=0,
        end=1.5,
        out=tmp_path / "r.mp4",
        captions=[],
        fonts=default_fonts(),
        mode="speaker",
        width=width,
        height=height,
    )
    assert (reel.width, reel.height) == (width, height)
    assert reel.duration == pytest.approx(1.5, abs=0.1)
