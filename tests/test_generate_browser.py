"""The "Make a video" page in a real headless Chromium against a real daphne + qcluster: a pasted script
goes to its watch page, which plays the first scene while the later ones are still being made."""

from __future__ import annotations

import re

import pytest

from .test_browser import H264_AAC, browser, in_thread, task_state  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SENTENCES = [
    "Rivers carve canyons over millions of years.",
    "Water finds the weakest rock, and it keeps going.",
    "Every flood moves stones the size of cars.",
    "The stones grind the riverbed deeper each spring.",
    "Side streams cut their own small valleys.",
    "Cliffs fall when the rock beneath them is washed away.",
    "Wind and frost split the walls a little more each winter.",
    "What looks permanent is only slow.",
    "The canyon you visit today will be deeper for your grandchildren.",
    "So next time you stand by a stream, listen to it working.",
    "You are hearing a landscape being made, one grain at a time.",
    "And the river will still be at it long after we have gone.",
]


def test_the_first_scene_plays_before_the_video_is_finished(live, owner, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    messages = []
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(live.base_url + "/accounts/login/")
    assert page.evaluate("t => window.MediaSource && MediaSource.isTypeSupported(t)", H264_AAC)
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-1234")
    page.click("form button[type=submit]")
    page.wait_for_url(live.base_url + "/")

    page.goto(live.base_url + "/make/")
    page.fill("#script", " ".join(SENTENCES))
    page.fill("#title", "Slow water")
    page.select_option("#aspect", "16:9")
    page.click("#make-form button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=30_000)
    task_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    page.wait_for_function(
        "() => { const v = document.getElementById('player'); return v.currentTime > 0.5 && !v.error; }",
        timeout=90_000,
    )
    state = in_thread(task_state, task_id)
    total = state["result"].get("scenes")
    assert state["status"] == "running" and state["finished_at"] is None, state
    assert total and 1 <= state["chunks_ready"] < total, state
    playing = page.evaluate(
        """() => { const v = document.getElementById('player');
                   return {time: v.currentTime, paused: v.paused, finished: window.repurposerWatch.finished()}; }"""
    )
    assert playing["time"] > 0.5 and not playing["paused"] and playing["finished"] is False, playing
    # It keeps playing (not stuck on the first frame), then cancel: the rest is not needed.
    before = playing["time"]
    page.wait_for_function(f"() => document.getElementById('player').currentTime > {before + 0.5}", timeout=10_000)
    page.click("#cancel")
    page.wait_for_function("() => window.repurposerWatch.finished()", timeout=30_000)
    assert not messages, messages
