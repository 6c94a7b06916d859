"""An option left out takes the page's default at every entry point: the form POST to `/`, `POST /uploads/`
(the README's "Uploading from a script" example) and `POST /api/create`; an unticked box on the page stays off."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from jobs.models import ProcessingTask

pytestmark = pytest.mark.django_db

DEFAULTS = {"interval": 30, "transcribe": True, "commentary": True, "ideas": True}


def video(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, f"bytes of {name}".encode(), content_type="video/mp4")


def stored_params(task_id: str) -> dict:
    params = ProcessingTask.objects.get(pk=task_id).params
    return {key: params[key] for key in DEFAULTS}


def test_the_same_minimal_body_gets_the_same_params_everywhere(alice, owner, media_root):
    page = alice.post(reverse("upload"), {"file": video("a.mp4"), "interval": 30}, HTTP_ACCEPT="application/json")
    parts = alice.post(reverse("upload-start"), {"filename": "b.mp4", "size": 1000, "interval": 30})
    token = ApiToken.create_for(user=owner, name="tests")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        reverse("api-create"), {"file": video("c.mp4"), "interval": 30}
    )
    assert (page.status_code, parts.status_code, api.status_code) == (201, 201, 202)
    page_params, parts_params, api_params = (
        ProcessingTask.objects.get(pk=response.json()["task_id"]).params for response in (page, parts, api)
    )
    assert page_params == parts_params == api_params
    assert stored_params(page.json()["task_id"]) == DEFAULTS


def test_the_page_sends_every_box_so_unticked_stays_off(alice, media_root):
    html = alice.get(reverse("upload")).content.decode()
    for name in ("transcribe", "commentary", "ideas", "force"):
        assert f'<input type="hidden" name="{name}" value="0">' in html
    # What a browser sends for the page with every box unticked (only the hidden "0"s) …
    off = {"transcribe": "0", "commentary": "0", "ideas": "0", "force": "0"}
    unticked = alice.post(reverse("upload-start"), {"filename": "a.mp4", "size": 10, "interval": 30, **off})
    assert stored_params(unticked.json()["task_id"]) == {
        "interval": 30,
        "transcribe": False,
        "commentary": False,
        "ideas": False,
    }
    # … and with them ticked: the hidden "0" and then the box's "on".
    on = {name: ["0", "on"] for name in off}
    ticked = alice.post(reverse("upload-start"), {"filename": "b.mp4", "size": 10, "interval": 30, **on})
    assert ProcessingTask.objects.get(pk=ticked.json()["task_id"]).params["force"] is True
    assert stored_params(ticked.json()["task_id"]) == DEFAULTS


def test_the_youtube_form_and_the_api_agree_on_a_bare_link(alice, owner):
    url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    page = alice.post(reverse("submit-youtube"), {"url": url}, HTTP_ACCEPT="application/json")
    page_params = ProcessingTask.objects.get(pk=page.json()["task_id"]).params
    ProcessingTask.objects.all().delete()
    token = ApiToken.create_for(user=owner, name="tests")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        reverse("api-create"), {"youtube_url": url}, content_type="application/json"
    )
    assert api.status_code == 202, api.content
    assert ProcessingTask.objects.get(pk=api.json()["task_id"]).params == page_params
    assert page_params["download"] is True and page_params["ideas"] is True
