""" "My videos" and the batch page in a real headless Chromium against a real daphne + qcluster: a video submitted
after the page loaded appears as a row and its bar moves while the worker processes it, with no reload; files
dropped on the upload page become one batch whose page follows them to the end."""

from __future__ import annotations

import base64
import re

import pytest

from jobs.models import Batch

from . import media
from .live import Client
from .test_browser import browser, in_thread, open_settings  # noqa: F401 (browser is a fixture)
from .test_pages import DROP_JS, check_page, log_in, watching

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every change of the first row's bar, as the page made it (aria-valuenow), and whether the page was reloaded.
WATCH_BARS_JS = """() => {
  window.__bars = []; window.__sameDocument = true;
  new MutationObserver(() => {
    const bar = document.querySelector('#task-rows .task-row .progress');
    if (!bar) return;
    const v = Number(bar.getAttribute('aria-valuenow')), status = bar.closest('.task-row').dataset.status;
    const last = window.__bars[window.__bars.length - 1];
    if (!last || last[0] !== v || last[1] !== status) window.__bars.push([v, status]);
  }).observe(document.getElementById('task-rows'), {subtree: true, childList: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def transcoded(tmp_path_factory):
    """Not browser-playable, so every chunk is transcoded: the job takes long enough for the bar to move."""
    return media.mpeg4_avi(tmp_path_factory.mktemp("dash") / "talk.avi", seconds=60, size="480x270")


def test_a_new_video_appears_and_its_bar_moves_live(live, owner, browser, transcoded):  # noqa: F811
    context, page, problems = watching(browser, 1280)
    log_in(page, live.base_url)
    page.goto(live.base_url + "/tasks/")
    assert page.locator("#empty").is_visible() and page.locator("#task-rows .task-row").count() == 0
    page.wait_for_function("() => document.getElementById('live').textContent === 'Live'")
    page.evaluate(WATCH_BARS_JS)

    with Client(live.base_url) as client:  # submitted elsewhere (another tab, a script) after the page loaded
        client.login("alice", "alice-pass-1234")
        task_id = client.upload_in_parts(transcoded, interval=10)["task_id"]

    row = page.locator(f"#task-{task_id}")
    row.wait_for(timeout=20_000)
    assert page.locator("#empty").is_hidden()
    page.wait_for_function(
        f"() => document.querySelector('#task-{task_id}').dataset.status === 'running'", timeout=60_000
    )
    page.wait_for_function(
        f"() => document.querySelector('#task-{task_id}').dataset.status === 'succeeded'", timeout=240_000
    )
    bars = page.evaluate("window.__bars")
    running = [v for v, status in bars if status == "running" and 0 < v < 100]
    assert len(set(running)) >= 2, bars  # it moved while the worker worked, not only at the end
    assert running == sorted(running), bars
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    # Once ended, the row is the server's again: finished time, the first chunk's picture, its length, buttons.
    row.locator(".finished").wait_for(timeout=10_000)
    assert row.locator(".badge").inner_text() == "Succeeded" and row.locator(".pct").inner_text() == "100 %"
    assert row.locator(".thumb img").count() == 1 and row.locator(".length").inner_text() == "1:00"
    assert (
        row.locator("button", has_text="Run again").is_visible()
        and row.locator("button", has_text="Cancel").count() == 0
    )
    check_page(page, "list-live")
    assert problems == [], problems
    context.close()


def test_files_dropped_on_the_upload_page_become_a_batch_followed_to_the_end(live, owner, browser, sample_dir):  # noqa: F811
    files = [media.h264_aac(sample_dir / f"batch-{i}.mp4", seconds=4 + i, size="320x240") for i in range(2)]
    context, page, problems = watching(browser, 390)
    log_in(page, live.base_url)
    open_settings(page)
    for box in ("#id_transcribe", "#id_commentary", "#id_ideas"):  # just the chunks: quick
        page.uncheck(box)
    page.click("#many-links > summary")
    page.fill("#batch-title", "Two clips")  # the batch's name (beside the links box) goes with the files too
    page.evaluate(DROP_JS, [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in files])
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/batches/[0-9a-f-]{36}/$"), timeout=60_000)
    assert page.locator("h1").inner_text() == "Two clips"
    summary = page.locator("#batch-summary")
    page.wait_for_function(
        "() => document.querySelector('#batch-summary [data-count=done]').textContent === '2'", timeout=120_000
    )
    assert summary.locator("[data-count=rate]").inner_text() == "100 %"
    assert summary.locator("[data-count=queued]").inner_text() == "0"
    assert page.locator("#batch-bar").get_attribute("aria-valuenow") == "2"
    assert page.locator(".task-row .pct").all_inner_texts() == ["100 %", "100 %"]
    batch = in_thread(lambda: Batch.objects.get())
    assert in_thread(lambda: batch.summary()["done"]) == 2
    check_page(page, "batch-live")
    assert problems == [], problems
    context.close()
