"""The publishing kit on real speech: espeak-ng reads a talk in three parts (bread, tomatoes, bicycles), its
subtitles uploaded beside it; chapters, titles and the description, the chaptered MP4 and WebVTT, through a
whole job run in-process, the API and the exports."""

from __future__ import annotations

import json
import re
import subprocess
import time
import zipfile

import pytest
from PIL import Image

from jobs import services, tasks
from jobs.engine import run_task
from jobs.exports import build_media_zip, export_markdown
from jobs.kit import next_choice
from jobs.layout import TaskFiles
from jobs.models import ProcessingTask
from media_pipeline.ideas.offline import tokens
from media_pipeline.kit.chapters import (
    Chapter,
    chapter_list,
    find_chapters,
    to_ffmetadata,
    to_webvtt,
    youtube_ready,
)
from media_pipeline.kit.publish import TITLE_MAX, chapter_order, clauses, offline_text
from media_pipeline.transcript.subtitles import to_srt
from media_pipeline.transcript.types import Segment

from . import writer_transcripts
from .analysis_media import talk_file
from .kit_media import PARTS, three_topic_talk


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    return three_topic_talk(tmp_path_factory.mktemp("kit") / "talk.mp4")


def probe_chapters(path) -> list[dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["chapters"]


def packets(path) -> dict[str, int]:
    """Packets per audio and video stream (the MP4 muxer stores chapters in a text track of its own)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=codec_type,nb_read_packets"]
        + ["-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split(",") for line in out.stdout.split()]
    return {kind: int(n) for kind, n in rows if kind in ("audio", "video")}


# ---------------------------------------------------------------------------------------------------------
# Chapters


def test_chapters_start_where_the_speaker_changes_topic(talk):
    _, segments, starts = talk
    chapters = find_chapters(segments, duration=segments[-1].end)

    assert [c.start for c in chapters] == pytest.approx(starts, abs=0.01)
    assert chapters[0].title.startswith("Intro")
    assert youtube_ready(chapters)
    assert all(c.end - c.start >= 10 for c in chapters)
    # Titles are key phrases of each part, not its first words.
    assert "bread" in chapters[0].title.lower()
    assert "tomato" in chapters[1].title.lower()
    assert "bicycle" in chapters[2].title.lower()
    for chapter, part in zip(chapters[1:], PARTS[1:], strict=True):
        first_words = " ".join(part[0].split()[:2]).lower()
        assert not chapter.title.lower().startswith(first_words)
    lines = chapter_list(chapters).splitlines()
    assert lines[0].startswith("0:00 Intro")
    assert all(re.fullmatch(r"\d+:\d\d \S.*", line) for line in lines)


def test_ten_topics_of_a_minute_are_ten_chapters_on_the_minute():
    from tests.test_ideas import TOPICS, ten_minute_transcript

    for seed in (5, 7):
        chapters = find_chapters(ten_minute_transcript(seed=seed), duration=600)
        assert [c.start for c in chapters] == [60.0 * i for i in range(10)]
        for chapter, topic in zip(chapters, TOPICS, strict=True):
            # Each title names its minute's subject with that minute's own words.
            assert any(w in chapter.title.lower() for term in topic for w in term.split()), chapter.title


def test_one_topic_is_one_chapter(tmp_path):
    # The compiler talk (one subject throughout) must not be cut into chapters.
    _, segments = talk_file(tmp_path / "one.mp4")
    chapters = find_chapters(segments, duration=segments[-1].end)
    assert len(chapters) == 1
    assert chapters[0].start == 0 and chapters[0].title.startswith("Intro")
    assert not youtube_ready(chapters)


def test_chapters_are_at_least_min_gap_apart_even_when_topics_change_faster(talk):
    _, segments, _ = talk
    chapters = find_chapters(segments, duration=segments[-1].end, min_gap=25)
    assert all(b.start - a.start >= 25 for a, b in zip(chapters, chapters[1:], strict=False))
    assert chapters[-1].end - chapters[-1].start >= 25 or len(chapters) == 1


def test_webvtt_and_ffmetadata_escape_what_their_formats_need():
    chapters = [
        Chapter(0, 12.5, "Intro"),
        Chapter(12.5, 30, "Cats = dogs; #1 \\ best --> ever"),
    ]
    vtt = to_webvtt(chapters)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:12.500\nIntro\n")
    assert "00:00:12.500 --> 00:00:30.000\nCats = dogs; #1 \\ best → ever" in vtt
    meta = to_ffmetadata(chapters)
    assert meta.startswith(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=12500\ntitle=Intro\n")
    assert "title=Cats \\= dogs\\; \\#1 \\\\ best --> ever\n" in meta


# ---------------------------------------------------------------------------------------------------------
# Titles and description, offline


def test_offline_titles_and_description(talk):
    _, segments, _ = talk
    chapters = find_chapters(segments, duration=segments[-1].end)
    text = offline_text(segments, chapters)

    assert 3 <= len(text.titles) <= 5
    assert all(0 < len(t) <= TITLE_MAX for t in text.titles)
    assert len({t.lower() for t in text.titles}) == len(text.titles)
    assert any("Tomato" in t for t in text.titles)
    assert chapter_list(chapters) in text.description
    assert text.description.index("Chapters:") < text.description.index("#")
    assert 1 <= len(text.hashtags) <= 5 and all(re.fullmatch(r"#\w+", h) for h in text.hashtags)


def test_offline_titles_spell_acronyms_as_said_skip_nameless_parts_and_end_the_summary_with_a_stop():
    said = [
        "Our PBX runs on a small box in the office and the PBX never sleeps",
        "Every phone talks SIP to the PBX and SIP needs a password per phone",
        "then we move on to voicemail and voicemail goes to email",
        "so voicemail is easy once SIP works and that is all for today",
    ]
    segments = [Segment(i * 20.0, i * 20.0 + 18.0, t) for i, t in enumerate(said)]
    chapters = [
        Chapter(0.0, 40.0, "Intro: Pbx and Sip", keywords=("pbx", "sip")),
        Chapter(40.0, 60.0, "Part 2"),  # no key phrase found for it
        Chapter(60.0, 80.0, "Voicemail", keywords=("voicemail",)),
    ]
    text = offline_text(segments, chapters)
    assert any("PBX" in t for t in text.titles) and not any("Pbx" in t for t in text.titles)
    assert not any("Part 2" in t for t in text.titles)
    assert "#PBX" in text.hashtags
    assert "In this video: PBX and voicemail." in text.summary
    assert re.search(r"[.!?] In this video", text.summary), text.summary  # the quote ends with a stop


@pytest.mark.parametrize("name", list(writer_transcripts.all_transcripts(librivox=False)))
def test_offline_titles_are_the_videos_own_words(name):
    segments = writer_transcripts.all_transcripts(librivox=False)[name]
    chapters = find_chapters(segments, duration=segments[-1].end)
    titles = offline_text(segments, chapters).titles
    said = {w.lower() for s in segments for w in re.findall(r"[\w']+", s.text)}
    assert 3 <= len(titles) <= 5, titles
    assert all(0 < len(t) <= TITLE_MAX for t in titles), titles
    for title in titles:
        assert not TEMPLATE.search(title), title
        unsaid = [w for w in re.findall(r"[\w']+", title) if w.lower() not in said]
        assert unsaid == [], (title, unsaid)
    # Varied: no two titles share most of their content words, and most titles are clauses, not lists.
    terms = [set(tokens(t)) for t in titles]
    for i, a in enumerate(terms):
        for b in terms[i + 1 :]:
            assert len(a & b) <= 1 or len(a & b) * 2 < min(len(a), len(b)), titles
    assert sum(1 for t in titles if len(t.split()) >= 4) >= 2, titles


@pytest.mark.parametrize("name", list(writer_transcripts.all_transcripts(librivox=False)))
def test_the_titles_clause_order_is_the_rank_in_its_chapter_then_the_score(name):
    """chapter_order (linear) orders the clauses exactly as its definition does (quadratic): by how many
    clauses of the same chapter score higher, then by score, best first otherwise. So the titles it picks from
    the writer transcripts are the ones the definition picks."""
    segments = writer_transcripts.all_transcripts(librivox=False)[name]
    chapters = find_chapters(segments, duration=segments[-1].end)
    found = sorted(clauses(segments, key_terms=set()), key=lambda c: (-c.score, c.start))

    def chapter_of(c):
        return max((i for i, ch in enumerate(chapters) if ch.start <= c.start), default=0)

    defined = sorted(
        found, key=lambda c: (sum(1 for t in found if chapter_of(t) == chapter_of(c) and t.score > c.score), -c.score)
    )
    assert found and chapters
    assert [c.text for c in chapter_order(found, chapters)] == [c.text for c in defined]


def test_offline_titles_of_a_long_transcript_are_linear_work():
    """3,000 segments (a long podcast): the titles took 213 s when each clause's rank rescanned every clause."""
    spoken = [s for segments in writer_transcripts.all_transcripts(librivox=False).values() for s in segments]
    segments, at = [], 0.0
    while len(segments) < 3000:
        for s in spoken:
            segments.append(Segment(start=at, end=at + s.end - s.start, text=s.text))
            at += s.end - s.start + 0.4
    chapters = find_chapters(segments, duration=segments[-1].end)
    started = time.monotonic()
    titles = offline_text(segments, chapters).titles
    # Generous: a few tenths of a second on a quiet machine; the quadratic order took minutes.
    assert time.monotonic() - started < 20
    assert 3 <= len(titles) <= 5 and all(0 < len(t) <= TITLE_MAX for t in titles), titles


TEMPLATE = re.compile(
    r"Explained|What You Need to Know|Practical Guide|and More$|\bin \d+ (?:Minutes|Seconds)\b", re.IGNORECASE
)


# ---------------------------------------------------------------------------------------------------------
# The whole job


@pytest.mark.django_db(transaction=True)
def test_a_job_announces_chapters_and_titles_and_writes_the_chaptered_mp4(make_task, talk, client, owner, monkeypatch):
    path, segments, starts = talk
    task = make_task(path, interval=10)
    (task.workdir() / "sidecar.srt").write_text(to_srt(segments))
    task.params = {**task.params, "transcribe": True}
    task.save()

    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()

    kit = task.kit()
    chapters = kit["chapters"]
    assert [c["start"] for c in chapters["chapters"]] == pytest.approx(starts, abs=0.05)
    assert chapters["youtube_ready"] and chapters["list"].startswith("0:00 Intro")
    assert chapters["video_url"] == task.media_url(TaskFiles.CHAPTERED)
    assert 3 <= len(kit["titles"]["titles"]) <= 5
    assert "Chapters:\n0:00 Intro" in kit["titles"]["description"]
    assert task.result["kit"]["chapters"] == 3 and task.result["kit"]["chaptered_video"] == TaskFiles.CHAPTERED

    # The WebVTT the player reads.
    vtt = task.files.path(TaskFiles.CHAPTERS_VTT).read_text()
    assert vtt.count(" --> ") == 3 and "Tomato" in vtt
    # The chaptered MP4: the final video's packets, copied, with three chapter markers at the right times.
    chaptered = task.files.path(TaskFiles.CHAPTERED)
    marks = probe_chapters(chaptered)
    assert [float(m["start_time"]) for m in marks] == pytest.approx(starts, abs=0.01)
    assert [m["tags"]["title"] for m in marks] == [c["title"] for c in chapters["chapters"]]
    assert packets(chaptered) == packets(task.files.final)

    # The API lists the kit, the media URLs serve it, the exports carry it.
    client.force_login(owner)
    detail = client.get(f"/api/task/{task.pk}").json()
    assert detail["kit"]["chapters"]["list"] == chapters["list"]
    response = client.get(chapters["vtt_url"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/vtt")
    md = export_markdown(task)
    assert "## Chapters" in md and "## Title suggestions" in md and "Chapters:\n0:00 Intro" in md
    with zipfile.ZipFile(build_media_zip(task)) as zf:
        assert {TaskFiles.CHAPTERS_VTT, TaskFiles.CHAPTERED} <= set(zf.namelist())
        assert json.loads(zf.read("content.json"))["kit"]["titles"]["titles"] == kit["titles"]["titles"]
        names = set(zf.namelist())

    # Thumbnails and covers: real JPEGs of the right size, under YouTube's 2 MB, from frames away from the
    # colour cuts at the part starts, grabbed by one ffmpeg run.
    images = kit["thumbnails"]
    assert sorted((d["kind"], d["slot"]) for d in images) == [
        ("square", 0),
        ("thumb", 0),
        ("thumb", 1),
        ("thumb", 2),
        ("thumb", 3),
        ("vertical", 0),
    ]
    for d in images:
        path = task.files.path(d["files"]["image"])
        with Image.open(path) as im:
            assert im.format == "JPEG" and im.size == (d["width"], d["height"])
        assert {"thumb": (1280, 720), "square": (1080, 1080), "vertical": (1080, 1920)}[d["kind"]] == im.size
        assert 10_000 < path.stat().st_size < 2 * 1024 * 1024
        assert d["files"]["image"] in names
        assert client.get(d["url"]).status_code == 200
    thumbs = [d for d in images if d["kind"] == "thumb"]
    assert len({d["frame_t"] for d in thumbs}) >= 3 and len({d["layout"] for d in thumbs}) == 3
    assert {d["title"] for d in thumbs} <= set(thumbs[0]["texts"])
    assert task.metrics.filter(operation="kit.frames").count() == 1

    # Regenerate: the API queues a job (no image work in the request); the job makes it with the next frame.
    queued: list = []
    monkeypatch.setattr(services, "async_task", lambda *a, **k: queued.append(a))
    first = next(d for d in thumbs if d["slot"] == 0)
    r = client.post(
        f"/api/task/{task.pk}/kit/image",
        {"kind": "thumb", "slot": 0, "change": "frame"},
        content_type="application/json",
    )
    assert r.status_code == 202, r.json()
    assert queued == [("jobs.tasks.regenerate_kit_image", str(task.pk), "thumb", 0, "frame")]
    assert tasks.regenerate_kit_image(*queued[0][1:]) == "rendered"
    again = next(d for d in task.kit()["thumbnails"] if d["kind"] == "thumb" and d["slot"] == 0)
    assert again["frame_t"] == next_choice(first["frame_t"], first["frames"]) != first["frame_t"]
    assert again["files"]["image"] != first["files"]["image"]
    # Round the frames back to the first one: that image exists, so it costs no render.
    results = [tasks.regenerate_kit_image(str(task.pk), "thumb", 0, "frame") for _ in first["frames"][1:]]
    assert results[-1] == "cached"
    back = next(d for d in task.kit()["thumbnails"] if d["kind"] == "thumb" and d["slot"] == 0)
    assert back["files"]["image"] == first["files"]["image"]
    bad = client.post(
        f"/api/task/{task.pk}/kit/image",
        {"kind": "thumb", "slot": 9, "change": "frame"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["error"] == "This task has no such image to make again."


@pytest.mark.django_db(transaction=True)
def test_without_a_transcript_there_is_no_kit(make_task, h264_file):
    task = make_task(h264_file, interval=10)
    task.params = {**task.params, "transcribe": False}
    task.save()
    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    assert task.kit() == {} and "kit" not in task.result


def test_the_image_pool_renders_one_key_once_and_then_reads_the_file(tmp_path):
    import threading

    from media_pipeline.render.images import ImagePool

    calls: list[str] = []
    gate = threading.Event()

    class Spec:
        def __init__(self, k: str) -> None:
            self.k = k

        def key(self) -> str:
            return self.k

    def render(spec) -> bytes:
        gate.wait(5)
        calls.append(spec.key())
        return spec.key().encode()

    with ImagePool(2) as pool:
        a, b = (pool.submit(Spec("same"), render, lambda k: tmp_path / f"{k}.bin") for _ in range(2))
        c = pool.submit(Spec("other"), render, lambda k: tmp_path / f"{k}.bin")
        gate.set()
        assert a.result().path == b.result().path and not a.result().cached
        assert c.result().path.read_bytes() == b"other"
        hit = pool.submit(Spec("same"), render, lambda k: tmp_path / f"{k}.bin").result()
    assert sorted(calls) == ["other", "same"]
    assert hit.cached and hit.seconds == 0


def test_the_image_pool_shares_a_render_only_with_the_same_owner_for_the_same_file(tmp_path):
    import threading

    from media_pipeline.render.images import ImagePool

    gate = threading.Event()
    calls: list[str] = []

    class Spec:
        def key(self) -> str:
            return "same"

    def render(spec) -> bytes:
        gate.wait(10)
        calls.append(spec.key())
        return b"image"

    with ImagePool(1) as pool:
        blocker = pool.submit(Spec(), render, lambda k: tmp_path / "first" / f"{k}.bin", owner="job-a")
        for _ in range(1000):  # the pool's one thread takes it: the rest stay queued
            if blocker.running():
                break
            time.sleep(0.01)
        assert blocker.running()
        mine = pool.submit(Spec(), render, lambda k: tmp_path / f"{k}.bin", owner="job-a")
        again = pool.submit(Spec(), render, lambda k: tmp_path / f"{k}.bin", owner="job-a")
        theirs = pool.submit(Spec(), render, lambda k: tmp_path / f"{k}.bin", owner="job-b")
        assert again is mine  # the same owner, the same file: one render
        assert theirs is not mine and blocker is not mine  # another owner, or another file: its own
        # Job A ends: its queued render is dropped, job B's is not.
        assert not pool.settle("job-a", timeout=0.1)  # the blocker is still rendering
        assert mine.cancelled() and not theirs.cancelled()
        gate.set()
        assert blocker.result().path == tmp_path / "first" / "same.bin"
        assert theirs.result().path.read_bytes() == b"image"
        assert pool.settle("job-a") and pool.busy("job-b") == 0
    assert calls == ["same", "same"]


def test_a_submit_to_a_closed_image_pool_raises_and_leaves_nothing_behind(tmp_path):
    from media_pipeline.render.images import ImagePool

    class Spec:
        def key(self) -> str:
            return "late"

    pool = ImagePool(1)
    pool.close()
    for _ in range(2):  # the second is not handed the first's future, which would never end
        with pytest.raises(RuntimeError, match="closed"):
            pool.submit(Spec(), lambda spec: b"x", lambda k: tmp_path / f"{k}.bin", owner="job")
    assert pool.busy("job") == 0 and pool.settle("job", timeout=0.1)


@pytest.mark.django_db(transaction=True)
def test_a_captions_only_youtube_task_gets_chapters_and_titles_without_images(alice, settings):
    from .fake_youtube import SURFACE_GO, FakeYouTube
    from .test_youtube_jobs import submit

    with FakeYouTube() as server:
        settings.YOUTUBE_BASE_URL = server.url
        submit(alice, SURFACE_GO)
        task = ProcessingTask.objects.get()
        assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    kit = task.kit()
    assert kit["chapters"]["list"].startswith("0:00 Intro")
    assert kit["chapters"]["video_url"] is None  # no video, so no chaptered MP4
    assert 1 <= len(kit["titles"]["titles"]) <= 5 and "thumbnails" not in kit
    assert task.result["kit"]["chapters"] == len(kit["chapters"]["chapters"])


@pytest.mark.django_db
def test_the_watch_page_has_the_kit_panel_and_its_script(alice, make_task, h264_file):
    task = make_task(h264_file)
    page = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert 'id="kit-box"' in page and "js/kit.js" in page and "css/kit.css" in page
    assert page.index("js/kit.js") < page.index("js/watch.js")  # listening before the socket replays
