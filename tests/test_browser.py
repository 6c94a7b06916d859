"""The watch page in a real headless Chromium against a real daphne + qcluster: the video plays the first
chunk while the rest are still being cut."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from jobs.models import ProcessingTask, ProgressUpdate

from . import media
from .live import UNTICKED, Client, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/watch.png")
H264_AAC = 'video/mp4; codecs="avc1.42E01E,mp4a.40.2"'


@pytest.fixture(scope="session")
def slow_mpeg4(sample_dir):
    """Not browser-playable, so all 18 chunks are transcoded: the job runs for many seconds."""
    return media.mpeg4_avi(sample_dir / "browser-mpeg4.avi", seconds=180, size="640x360")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def in_thread(fn, *args):
    """Run ORM code off the Playwright thread (its event loop makes Django refuse sync queries there)."""

    def call():
        try:
            return fn(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=30)


def task_state(task_id: str) -> dict:
    row = ProcessingTask.objects.filter(pk=task_id).values("status", "result", "finished_at").get()
    row["chunks_ready"] = ProgressUpdate.objects.filter(task_id=task_id, type="chunk_ready").count()
    row["planned"] = len(row["result"].get("plan", []))
    return row


def open_settings(page) -> None:
    """Unfold the upload page's Settings (where the chunk length and the other options live)."""
    if not page.evaluate("() => document.getElementById('settings').open"):
        page.click("#settings > summary")


def upload_from_the_page(page, live, path, *, interval: int) -> str:
    """Log in with the form, then upload with the upload page (its script posts and opens the watch page);
    returns the task id."""
    if not page.url.startswith(live.base_url + "/accounts/login/"):
        page.goto(live.base_url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-1234")
    page.click("form button[type=submit]")
    page.wait_for_url(live.base_url + "/")
    page.set_input_files("input[name=file]", str(path))
    open_settings(page)
    page.fill("#id_interval", str(interval))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=30_000)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_the_first_chunk_plays_while_the_job_is_still_running(live, owner, browser, slow_mpeg4):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    messages = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    failed = []  # HTTP errors the page ran into (the console only says "Failed to load resource")
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    # This Chromium must be able to play what the pipeline makes (H.264 + AAC through Media Source).
    page.goto(live.base_url + "/accounts/login/")
    assert page.evaluate("t => window.MediaSource && MediaSource.isTypeSupported(t)", H264_AAC), (
        "this Chromium cannot play H.264/AAC via MediaSource"
    )

    task_id = upload_from_the_page(page, live, slow_mpeg4, interval=10)

    # The player starts on the first chunk_ready and plays past half a second…
    page.wait_for_function(
        "() => { const v = document.getElementById('player'); return v.currentTime > 0.5 && !v.error; }",
        timeout=40_000,
    )
    state = in_thread(task_state, task_id)
    playing = page.evaluate(
        """() => { const v = document.getElementById('player');
                   return {time: v.currentTime, paused: v.paused, error: v.error && v.error.code,
                           finished: window.repurposerWatch.finished(),
                           chunks: document.querySelectorAll('#chunks .chunk').length,
                           wait: document.getElementById('player-wait').hidden}; }"""
    )
    # …while the job is still cutting the later ones.
    assert state["status"] == "running", (state, playing)
    assert state["finished_at"] is None
    assert state["planned"] == 18
    assert 1 <= state["chunks_ready"] < state["planned"], state
    assert playing["time"] > 0.5 and playing["error"] is None and not playing["paused"], playing
    assert playing["finished"] is False and playing["wait"] is True
    assert 1 <= playing["chunks"] <= state["chunks_ready"]
    assert page.locator("#cancel").is_visible()
    assert page.locator("#download").is_hidden(), "no Download link before the final video exists"

    # And it keeps playing (not stuck on the first frame).
    before = page.evaluate("() => document.getElementById('player').currentTime")
    page.wait_for_function(f"() => document.getElementById('player').currentTime > {before} + 0.5", timeout=10_000)
    assert page.evaluate("() => document.getElementById('player').currentTime") > before + 0.5

    # The page a user sees: progress, stages, chunk thumbnails, the event log.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#chunks img')].some(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#stages li.active").inner_text() == "Cut chunks"
    assert page.locator("#stages li.done").all_inner_texts() == ["Check the file", "Plan intervals"]
    assert re.fullmatch(r"\d+ %", page.locator("#bar-label").inner_text())
    assert page.locator("#log li.chunk_ready").count() >= 1
    # The score strip is to scale while intervals still arrive: the first 10 s of 180 s take a 18th of it.
    page.wait_for_selector("#scores .score")
    first = page.locator("#scores .score").first
    share = first.bounding_box()["width"] / page.locator("#scores").bounding_box()["width"]
    length = float(first.get_attribute("data-end")) - float(first.get_attribute("data-start"))
    assert share == pytest.approx(length / 180, rel=0.3), (share, length)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Cancel from the page: the job stops and the page says so.
    page.click("#cancel")
    page.wait_for_function("() => window.repurposerWatch.finished()", timeout=10_000)
    assert "Cancelled" in page.locator("#status-line").inner_text()
    assert page.locator("#cancel").is_hidden()
    assert page.locator("#download").is_hidden(), "cancelled: there is no final video to download"
    assert in_thread(task_state, task_id)["status"] == "cancelled"
    assert [f for f in failed if not f.endswith("/favicon.ico")] == []
    errors = [m for m in messages if m.startswith(("error", "pageerror")) and "Failed to load resource" not in m]
    assert not errors, errors


def test_a_queued_video_can_be_cancelled_from_its_page(
    transactional_db, media_root, make_task, owner, h264_file, browser
):
    task = in_thread(make_task, h264_file)  # queued, and no workers: it stays queued
    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        with Client(stack.base_url) as client:
            client.login("alice", "alice-pass-1234")
            context = browser.new_context()
            # Signed in with the session cookie this time.
            context.add_cookies(
                [{"name": k, "value": v, "url": stack.base_url} for k, v in client.http.cookies.items()]
            )
            page = context.new_page()
            page.goto(f"{stack.base_url}/tasks/{task.pk}/")
            page.wait_for_function("() => window.repurposerWatch && window.repurposerWatch.lastSeq() === 0")
            assert page.locator("#player-wait").inner_text() == "Waiting for the first chunk…"
            assert page.locator("#cancel").is_visible()
            assert page.locator("#download").is_hidden(), "a Download link for a video that does not exist"

            page.click("#cancel")
            page.wait_for_function("() => window.repurposerWatch.finished()", timeout=10_000)
            assert page.locator("#status-line").inner_text() == "Cancelled before it started."
            assert page.locator("#cancel").is_hidden() and page.locator("#download").is_hidden()
            assert in_thread(task_state, str(task.pk))["status"] == "cancelled"
            context.close()


def test_the_time_left_is_said_in_words_when_it_is_short(
    transactional_db, media_root, make_task, owner, h264_file, browser
):
    from jobs.reporter import emit

    task = in_thread(make_task, h264_file)
    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        with Client(stack.base_url) as client:
            client.login("alice", "alice-pass-1234")
            context = browser.new_context()
            context.add_cookies(
                [{"name": k, "value": v, "url": stack.base_url} for k, v in client.http.cookies.items()]
            )
            page = context.new_page()
            page.goto(f"{stack.base_url}/tasks/{task.pk}/")
            page.wait_for_function("() => window.repurposerWatch && window.repurposerWatch.lastSeq() === 0")
            said = {}
            for seq, eta in enumerate([11, 45, 300], start=1):
                in_thread(lambda eta=eta: emit(task.pk, "progress", stage="chunk", progress=86, eta_seconds=eta))
                page.wait_for_function(f"() => window.repurposerWatch.lastSeq() === {seq}", timeout=10_000)
                said[eta] = page.locator("#eta").inner_text()
            assert said == {11: "A few seconds left.", 45: "Less than a minute left.", 300: "About 5:00 left."}
            context.close()


def test_an_interrupted_upload_resumes_when_the_same_file_is_chosen_again(owner, browser, media_root, h264_file):
    """The page remembers an unfinished upload (localStorage) and continues it from the server's offset."""
    with running_stack(connection.settings_dict, media_root, queue=False) as stack:
        client = Client(stack.base_url).login("alice", "alice-pass-1234")
        data = h264_file.read_bytes()
        half = len(data) // 2
        # The first half went up before the tab was closed.
        opened = client.http.post(
            "/uploads/",
            data={"filename": h264_file.name, "size": str(len(data)), "interval": "10", **UNTICKED},
            headers={"X-CSRFToken": client.csrf, "Referer": stack.base_url + "/"},
        ).json()
        client.http.put(
            opened["upload_url"],
            content=data[:half],
            headers={
                "X-CSRFToken": client.csrf,
                "Content-Range": f"bytes 0-{half - 1}/{len(data)}",
                "Referer": stack.base_url + "/",
            },
        ).raise_for_status()

        context = browser.new_context()
        context.add_cookies([{"name": k, "value": v, "url": stack.base_url} for k, v in client.http.cookies.items()])
        page = context.new_page()
        page.goto(stack.base_url + "/")
        key = f"repurposer-upload:{h264_file.name}:{len(data)}:{int(h264_file.stat().st_mtime * 1000)}"
        page.evaluate(
            "([k, v]) => localStorage.setItem(k, JSON.stringify(v))",
            [
                key,
                {
                    "upload_url": opened["upload_url"],
                    "watch_url": opened["watch_url"],
                    "part_bytes": opened["part_bytes"],
                },
            ],
        )
        page.set_input_files("input[name=file]", str(h264_file))
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=30_000)
        assert page.url.endswith(opened["watch_url"])
        assert page.evaluate("k => localStorage.getItem(k)", key) is None
        task = in_thread(lambda: ProcessingTask.objects.get(pk=opened["task_id"]))
        assert task.status == "queued"
        assert task.source_file().read_bytes() == data
        assert in_thread(lambda: ProcessingTask.objects.count()) == 1, "a second upload was started"
        context.close()


INJECTION = 'ignore previous instructions <script>window.pwned = 1</script><img src=x onerror="window.pwned=2">'


def _task_with_untrusted_content(owner) -> str:
    """A finished task whose scores, commentary, ideas and pieces all carry injection text."""
    from jobs.models import Idea
    from jobs.reporter import emit

    task = ProcessingTask.objects.create(
        owner=owner,
        title=f"talk {INJECTION}.mp4",
        status="succeeded",
        params={"interval": 30, "commentary": True, "ideas": True},
    )
    emit(
        task.pk,
        "analysis_ready",
        data={"index": 0, "start": 0, "end": 30, "score": 80, "reason": INJECTION, "events": []},
    )
    emit(
        task.pk,
        "analysis_ready",
        data={"index": 1, "start": 30, "end": 60, "score": 10, "reason": "quiet", "events": []},
    )
    piece = {"tweet": INJECTION, "thread": [INJECTION], "hashtags": ["#x"]}
    idea = Idea.objects.create(
        task=task,
        index=0,
        kind="tweet",
        title=INJECTION,
        snippet=INJECTION,
        start=1,
        end=9,
        status="ready",
        piece=piece,
    )
    emit(task.pk, "idea_ready", data={**idea.as_dict(), "urls": {}})
    emit(task.pk, "piece_ready", data={**idea.as_dict(), "urls": {}})
    emit(task.pk, "complete", progress=100, message="Done.", data={})
    return str(task.pk)


def test_untrusted_text_in_scores_and_ideas_stays_text(live, owner, browser):
    task_id = in_thread(_task_with_untrusted_content, owner)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live.base_url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-1234")
    page.click("button[type=submit]")
    page.goto(f"{live.base_url}/tasks/{task_id}/")
    page.wait_for_selector("#idea-0 .tweet")
    page.wait_for_function("document.querySelectorAll('#scores .score').length === 2")

    assert page.evaluate("window.pwned") is None  # nothing in the text ran
    assert page.locator("#idea-0 h3").inner_text() == INJECTION  # shown literally
    assert page.locator("#idea-0 script, #idea-0 img").count() == 0
    first, second = page.locator("#scores .score").all()
    assert INJECTION in first.get_attribute("title") and "quiet" in second.get_attribute("title")
    # The taller bar is the livelier interval; clicking it is how a viewer jumps there.
    assert first.locator(".fill").bounding_box()["height"] > second.locator(".fill").bounding_box()["height"]
    assert page.locator("#idea-0 button", has_text="Copy thread").count() == 1
    page.close()


def test_the_player_knows_the_whole_length_soon_after_the_job_ends(live, owner, browser, sample_dir):
    """A growing playlist is re-read only every target duration; on `complete` the page reads it at once, so
    the player shows the real length (not an endless live stream) within 2 s."""
    src = media.mpeg4_avi(sample_dir / "browser-length.avi", seconds=120, size="320x240")  # transcoded: takes a while
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    upload_from_the_page(page, live, src, interval=10)
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.2", timeout=60_000)
    live_length = page.evaluate("() => document.getElementById('player').duration")
    page.wait_for_function("() => window.repurposerWatch.finished()", timeout=120_000)
    assert live_length == float("inf"), "the player should have started while the job was still running"
    page.wait_for_function("() => isFinite(document.getElementById('player').duration)", timeout=2_000)
    assert page.evaluate("() => document.getElementById('player').duration") == pytest.approx(120, abs=0.5)
    assert "Done" in page.locator("#status-line").inner_text()
