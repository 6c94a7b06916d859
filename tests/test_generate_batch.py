"""Batches of made videos: many scripts, prompts or recaps in one request (the API's list, the page's text
file), each its own task; the batch says how many there are, how many succeeded and why each failure failed."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from jobs.engine import run_next
from jobs.models import Batch, ProcessingTask

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(owner) -> Client:
    key = ApiToken.create_for(user=owner, name="tests")[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def post(client: Client, data: object):
    return client.post(reverse("api-generate"), data=json.dumps(data), content_type="application/json")


def test_a_list_is_a_batch_each_entry_its_own_task_and_failures_say_why(api, owner, settings):
    settings.LLM_PROVIDER = "offline"
    response = post(
        api,
        {
            "title": "Three shorts",
            "aspect": "1:1",
            "captions": False,
            "items": [
                {"script": "Salt melts ice because it lowers the freezing point."},
                "Cold air sinks. Warm air rises over it.",
                {"prompt": "Why do cats purr?"},  # no language model here: its sentence
                {"script": "Hi.", "aspect": "4:3"},  # a bad option of its own
                {"from_task": "not-a-task"},
            ],
        },
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    batch = Batch.objects.get(pk=body["batch_id"])
    assert batch.owner == owner and batch.title == "Three shorts"
    assert body["summary"]["total"] == 5 and body["summary"]["refused"] == 3
    refused = {t["source"]: t["error"] for t in body["tasks"] if t["task"] is None}
    assert "needs a language model" in refused["prompt: Why do cats purr?"]
    assert "must be one of 9:16, 16:9, 1:1" in refused["Hi."]
    assert "no task of yours" in refused["task: not-a-task"]
    made = ProcessingTask.objects.filter(kind="generate").order_by("created_at")
    assert [t.params["aspect"] for t in made] == ["1:1", "1:1"] and not made[0].params["captions"]
    assert made[1].params["script"] == "Cold air sinks. Warm air rises over it."
    # The workers' fair queue runs them; the batch then reports them all.
    while run_next() != "nothing to start":
        pass
    detail = api.get(reverse("api-batch", args=[batch.pk])).json()
    assert detail["summary"]["done"] == 2 and detail["summary"]["finished"] is True
    assert all(t["task"]["status"] == "succeeded" for t in detail["tasks"] if t["task"])


def test_a_bare_list_works_and_a_list_of_nothing_good_is_refused(api):
    response = post(api, [{"script": "One. Two."}])
    assert response.status_code == 202 and response.json()["summary"]["total"] == 1
    refused = post(api, {"items": [{"script": ""}, {"aspect": "9:16"}]})
    assert refused.status_code == 400 and "None of the videos" in refused.json()["error"]
    assert len(refused.json()["sources"]) == 2
    assert post(api, {"items": []}).status_code == 400


def test_the_page_takes_a_text_file_of_scripts_and_prompts(alice, owner, settings):
    settings.LLM_PROVIDER = "offline"
    text = "Bees dance to talk.\nThe dance points to flowers.\n\nprompt: why is the sea salty\n\n\nAnts farm fungus.\n"
    page = alice.post(
        reverse("make-video"),
        {"mode": "batch", "aspect": "16:9", "voice": "", "length": "45", "captions": "on",
         "batch_file": SimpleUploadedFile("ideas.txt", text.encode(), content_type="text/plain")},
    )  # fmt: skip
    batch = Batch.objects.get()
    assert page.status_code == 302 and page.url == reverse("batch", args=[batch.pk])  # a refresh re-posts nothing
    html = alice.get(page.url).content.decode()
    tasks = [item.task for item in batch.items.all()]
    assert [t is not None for t in tasks] == [True, False, True]
    assert tasks[0].params["script"] == "Bees dance to talk.\nThe dance points to flowers."
    assert tasks[0].params["aspect"] == "16:9"
    assert "needs a language model" in html
    assert reverse("watch", args=[tasks[2].pk]) in html
    none_good = alice.post(
        reverse("make-video"),
        {"mode": "batch", "aspect": "16:9", "length": "45",
         "batch_file": SimpleUploadedFile("p.txt", b"prompt: one\n\nprompt: two\n", content_type="text/plain")},
    )  # fmt: skip
    html = none_good.content.decode()
    assert none_good.status_code == 400 and "None of the videos could be started." in html
    assert html.count("needs a language model") == 2 and Batch.objects.count() == 1  # no batch of nothing
    empty = alice.post(
        reverse("make-video"),
        {"mode": "batch", "aspect": "16:9", "length": "45",
         "batch_file": SimpleUploadedFile("x.txt", b"\n\n", content_type="text/plain")},
    )  # fmt: skip
    assert empty.status_code == 400 and "no scripts or prompts" in empty.content.decode()


def test_the_page_offers_a_recap_of_ones_finished_videos(alice, owner):
    done = ProcessingTask.objects.create(owner=owner, title="My talk", status="succeeded")
    page = alice.get(reverse("make-video") + f"?from_task={done.pk}").content.decode()
    assert "Recap one of my videos" in page and f'value="{done.pk}" selected' in page
    refused = alice.post(
        reverse("make-video"), {"mode": "from_task", "from_task": str(done.pk), "aspect": "9:16", "length": "45"}
    )
    assert refused.status_code == 400 and "has no transcript" in refused.content.decode()
