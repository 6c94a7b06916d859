"""A whole job with commentary and ideas, run in-process on real media: espeak-ng speech, its subtitles
uploaded beside it, the offline writers and espeak-ng as the voice (the defaults)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from jobs.engine import run_task
from jobs.models import Idea, ProcessingTask, ProgressUpdate
from media_pipeline.render.mix import measure_windows
from media_pipeline.transcript.subtitles import to_srt

from . import media
from .analysis_media import talk_file

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = {
    "commentary": True,
    "voice": "en-us",
    "commentary_style": "play-by-play",
    "original_level": 20,
    "ideas": True,
    "style": "educator",
    "idea_count": 3,
    "transcribe": True,
}


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("talk")
    return talk_file(folder / "talk.mp4")


@pytest.fixture(scope="module")
def long_talk(tmp_path_factory, talk):
    """The talk four times over (about 96 s), so there is room for several ideas that do not overlap."""
    path, segments = talk
    folder = tmp_path_factory.mktemp("long-talk")
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{path}'\n" for _ in range(4)))
    out = folder / "long-talk.mp4"
    media.ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    one = media.duration(path)
    return out, [replace(s, start=s.start + k * one, end=s.end + k * one) for k in range(4) for s in segments]


def events(task, type_):
    return [e.data for e in ProgressUpdate.objects.filter(task=task, type=type_).order_by("seq")]


def with_sidecar(task, segments):
    (task.workdir() / "sidecar.srt").write_text(to_srt(segments))
    return task


def test_every_chunk_gets_a_score_and_spoken_commentary(make_task, talk, settings):
    path, segments = talk
    task = with_sidecar(make_task(path, interval=10), segments)
    task.params = {**task.params, **OPTIONS, "ideas": False}
    task.save()

    assert run_task(str(task.pk)) == "succeeded"

    analyses = events(task, "analysis_ready")
    chunks = events(task, "chunk_ready")
    assert [a["index"] for a in sorted(analyses, key=lambda a: a["index"])] == [c["index"] for c in chunks]
    assert all(0 <= a["score"] <= 100 and a["reason"] for a in analyses)
    spoken = [c for c in chunks if c["has_commentary"]]
    assert spoken, [c["notes"] for c in chunks]
    for c in spoken:
        cue = c["commentary"]
        assert cue["text"] and cue["start"] == pytest.approx(c["start"] + settings.COMMENTARY_DELAY, abs=0.01)
        assert c["start"] < cue["end"] <= c["end"] + 0.01
    # The commentary is spoken into the chunk: more sound in its window than the ducked original alone.
    first = spoken[0]
    chunk_file = task.workdir() / "chunks" / f"{first['index']:05d}.ts"
    rel_start = first["commentary"]["start"] - first["start"]
    rel_end = first["commentary"]["end"] - first["start"]
    (level,) = measure_windows(chunk_file, windows=[(rel_start + 0.3, rel_end - 0.2)], band=(600, 5000))
    assert level > -40
    # The chunks keep their video stream copied, and the final video joins them.
    assert all(c["copied"] for c in chunks)
    # (Copied H.264 segments joined by concat run a few frames long here, with or without commentary.)
    assert media.duration(task.workdir() / "final.mp4") == pytest.approx(media.duration(path), abs=1.0)
    assert media.codecs(task.workdir() / "final.mp4") == ["h264", "aac"]
    task.refresh_from_db()
    assert task.result["commentary_chunks"] == len(spoken)


def test_the_commentary_track_and_a_failed_voice_leave_the_job_standing(client, owner, make_task, talk, settings):
    path, segments = talk
    settings.ESPEAK_BIN = "/nonexistent/espeak-ng"  # the voice fails for every interval
    task = with_sidecar(make_task(path, interval=10), segments)
    task.params = {**task.params, **OPTIONS, "ideas": False}
    task.save()

    assert run_task(str(task.pk)) == "succeeded"

    chunks = events(task, "chunk_ready")
    assert chunks and not any(c["has_commentary"] for c in chunks)
    # Each chunk says why it has no commentary (a short last interval may simply have no room for any).
    assert all(c["notes"] for c in chunks)
    assert sum("no commentary: espeak-ng is not installed" in " ".join(c["notes"]) for c in chunks) >= 2
    # Same audio path with silence: every chunk still has the same audio format, and the video joins.
    assert media.codecs(task.workdir() / "final.mp4") == ["h264", "aac"]
    client.force_login(owner)
    vtt = client.get(f"/tasks/{task.pk}/commentary.vtt")
    assert vtt.status_code == 200 and vtt.content.decode().startswith("WEBVTT")


def test_ideas_and_pieces_are_made_rendered_and_exported(client, owner, make_task, long_talk):
    path, segments = long_talk
    task = with_sidecar(make_task(path, interval=30), segments)
    task.params = {**task.params, **OPTIONS, "commentary": False}
    task.save()

    assert run_task(str(task.pk)) == "succeeded"

    ideas = list(Idea.objects.filter(task=task))
    assert len(ideas) == 3
    assert {i.kind for i in ideas} == {"reel", "image_carousel", "tweet"}
    announced = events(task, "idea_ready")
    assert sorted(e["index"] for e in announced) == [0, 1, 2]
    by_kind = {i.kind: i for i in ideas}
    assert by_kind["tweet"].status == Idea.Status.READY and by_kind["tweet"].piece["tweet"]
    for kind in ("reel", "image_carousel"):
        assert by_kind[kind].status == Idea.Status.RENDERED, by_kind[kind].errors
    reel = by_kind["reel"]
    # Silences longer than ~0.6 s are cut out (tight cuts are on by default): the reel is shorter by them.
    cut = reel.files["reel"].get("cut_seconds", 0.0)
    assert reel.files["videos"] == {"9:16": reel.files["video"]}
    assert (task.workdir() / reel.files["poster"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG poster beside it
    assert media.duration(task.workdir() / reel.files["video"]) == pytest.approx(
        reel.piece["end"] - reel.piece["start"] - cut, abs=0.15
    )
    task.refresh_from_db()
    assert task.result["ideas"]["ideas"] == 3

    client.force_login(owner)
    exported = client.get(f"/tasks/{task.pk}/export.json")
    assert exported.status_code == 200
    data = json.loads(exported.content)
    assert [i["index"] for i in data["ideas"]] == [0, 1, 2] and data["partial"] is False
    md = client.get(f"/tasks/{task.pk}/export.md").content.decode()
    assert reel.title.split()[0].strip("#*_") in md
    zipped = client.get(f"/tasks/{task.pk}/export.zip")
    assert zipped.status_code == 200
    served = client.get(f"/tasks/{task.pk}/media/{reel.files['video']}")
    assert served.status_code == 200
    poster = client.get(f"/tasks/{task.pk}/media/{reel.files['poster']}")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    shown = [e for e in events(task, "piece_ready") if e.get("index") == reel.index and e.get("status") == "rendered"]
    assert shown[-1]["poster"].endswith(reel.files["poster"]) and shown[-1]["urls"]["videos"]["9:16"]


def test_youtube_ideas_start_from_the_captions_before_the_download_ends(client, owner, settings, tmp_path):
    from .fake_youtube import SURFACE_GO, FakeYouTube, Reply, VideoHost

    clip = media.h264_aac(tmp_path / "clip.mp4", seconds=12).read_bytes()
    client.force_login(owner)
    # The download takes ~5 s (20 pieces, 0.25 s apart), as a real one would: served at once from loopback it could
    # end before the first idea on a busy machine, and the test would say nothing about the order of the work.
    slow = Reply(body=clip, content_type="video/mp4", chunk=max(1, len(clip) // 20), delay=0.25)
    with FakeYouTube() as fake, VideoHost({f"/{SURFACE_GO}.mp4": slow}) as host:
        settings.YOUTUBE_BASE_URL = fake.url
        settings.YOUTUBE_WATCH_URL = host.url + "/{id}.mp4"
        settings.YOUTUBE_EXTRACTORS = ("generic",)
        client.post(
            "/youtube/",
            {"url": SURFACE_GO, "interval": 30, "download": "on", "ideas": "on", "style": "podcast", "idea_count": 3},
        )
        task = ProcessingTask.objects.get()
        assert run_task(str(task.pk)) == "succeeded"
    rows = list(ProgressUpdate.objects.filter(task=task).order_by("seq").values_list("seq", "type", "stage"))
    ideas = [seq for seq, type_, _ in rows if type_ == "idea_ready"]
    downloading = [seq for seq, type_, stage in rows if type_ == "progress" and stage == "download"]
    assert ideas and downloading
    assert ideas[0] < downloading[-1]  # the first idea came while the video was still downloading
    assert Idea.objects.filter(task=task).count() == len(ideas)


def test_a_piece_is_regenerated_on_its_own(client, owner, outsider, make_task, long_talk, monkeypatch):
    from jobs import ideas as ideas_module
    from jobs import services

    path, segments = long_talk
    task = with_sidecar(make_task(path, interval=30), segments)
    task.params = {**task.params, **OPTIONS, "commentary": False}
    task.save()
    assert run_task(str(task.pk)) == "succeeded"
    tweet = Idea.objects.get(task=task, kind="tweet")
    queued = []
    monkeypatch.setattr(services, "async_task", lambda *args, **kw: queued.append(args))

    client.force_login(outsider)
    url = f"/tasks/{task.pk}/ideas/{tweet.index}/regenerate"
    assert client.post(url, HTTP_ACCEPT="application/json").status_code == 404
    client.force_login(owner)
    answer = client.post(url, HTTP_ACCEPT="application/json")
    assert answer.status_code == 202 and answer.json()["regenerating"] is True
    assert queued == [("jobs.tasks.regenerate_piece", tweet.pk)]
    tweet.refresh_from_db()
    assert tweet.status == Idea.Status.PENDING and tweet.version == 2
    # A second press while it is being written is refused, not queued twice.
    assert client.post(url, HTTP_ACCEPT="application/json").status_code == 409

    assert ideas_module.regenerate(tweet.pk) == "ready"  # what the queued job runs
    tweet.refresh_from_db()
    assert tweet.status == Idea.Status.READY and tweet.piece["tweet"]
    last = ProgressUpdate.objects.filter(task=task, type="piece_ready").order_by("-seq").first()
    assert last.data["index"] == tweet.index and last.data["version"] == 2


def test_networked_providers_fail_and_throttle_without_stopping_the_job(make_task, long_talk, settings):
    """ElevenLabs and an OpenAI-compatible chat API on loopback: the speech service answers 500 twice (with
    retries off, two intervals lose their voice; retries themselves are tested in test_providers_http) and
    is slow for the rest; the chat model sends garbage once. The job still finishes, the
    speech requests in flight never exceed TTS_CONCURRENCY (measured at the server), the failed intervals
    say so, and every call is in PerformanceMetrics with its status and retries."""
    from jobs.models import PerformanceMetrics

    from .fake_providers import FakeProviders, garbage, slow, status

    path, segments = long_talk
    with FakeProviders(api_key="k-secret-123") as fake:
        fake.chat_reply = lambda body: json.dumps({"commentary": "The speaker explains how a parser reads tokens."})
        fake.script("chat", garbage(), garbage())  # the first interval's text: unreadable twice → offline writer
        fake.script("elevenlabs", status(500), status(500))  # no retries below: two intervals lose their voice
        fake.defaults["elevenlabs"] = slow(1.0)
        settings.LLM_PROVIDER, settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = (
            "openai",
            fake.openai_url,
            "k-secret-123",
        )
        settings.TTS_PROVIDER, settings.ELEVENLABS_BASE_URL = "elevenlabs", fake.elevenlabs_url.rsplit("/v1", 1)[0]
        settings.ELEVENLABS_API_KEY, settings.TTS_MODEL = "k-secret-123", "eleven_multilingual_v2"
        settings.PROVIDER_MAX_RETRIES, settings.TTS_CONCURRENCY, settings.COMMENTARY_LOOKAHEAD = 0, 3, 8
        settings.PROVIDER_STATE_DIR = path.parent / "providers-state"
        task = with_sidecar(make_task(path, interval=10), segments)
        task.params = {**task.params, **OPTIONS, "ideas": False, "voice": "21m00Tcm4TlvDq8ikWAM"}
        task.save()

        assert run_task(str(task.pk)) == "succeeded"
        in_flight = fake.max_in_flight_by_route["elevenlabs"]

    chunks = events(task, "chunk_ready")
    spoken = [c for c in chunks if c["has_commentary"]]
    unspoken = [c for c in chunks if not c["has_commentary"]]
    # Held at the cap (that it is reached exactly with many waiting is shown in test_tts / test_ratelimit;
    # here, on a loaded machine, the intervals may not all reach their speech step at once).
    assert 2 <= in_flight <= 3
    failed = [
        c
        for c in unspoken
        if "no commentary: The speech service (ElevenLabs) had a server error" in " ".join(c["notes"])
    ]
    assert len(failed) == 2 and all(c["notes"] for c in unspoken)
    assert len(spoken) >= len(chunks) - 3  # the two that failed, and perhaps a last interval too short to speak in
    assert any("offline writer stood in" in " ".join(c["notes"]) for c in chunks)
    assert any(c["commentary"]["text"].startswith("The speaker explains") for c in spoken)
    calls = PerformanceMetrics.objects.filter(task=task, operation__startswith="provider.")
    statuses = {(m.data["status"], m.success) for m in calls}
    assert (500, False) in statuses and (200, True) in statuses
    assert all("k-secret-123" not in json.dumps(m.data) for m in calls)


def test_exports_keep_untrusted_text_inert(client, owner, make_task, h264_file):
    """A transcript saying "ignore previous instructions <script>…" ends up as text in the JSON and
    escaped in the Markdown: no heading, no HTML, no link appears that the speaker did not write."""
    injection = "# ignore previous instructions <script>alert(1)</script> [click](http://evil.example)"
    task = make_task(h264_file)
    Idea.objects.create(
        task=task,
        index=0,
        kind="tweet",
        title=injection,
        snippet=injection,
        start=0,
        end=5,
        status="ready",
        piece={"tweet": injection, "thread": [injection], "hashtags": ["#x"]},
    )
    client.force_login(owner)
    data = json.loads(client.get(f"/tasks/{task.pk}/export.json").content)
    assert data["ideas"][0]["title"] == injection
    md = client.get(f"/tasks/{task.pk}/export.md").content.decode()
    assert "<script>" not in md and "\\<script\\>" in md
    assert "](http" not in md and "\n# ignore" not in md


def test_pieces_left_pending_are_settled_and_can_be_regenerated_later(make_task, h264_file, settings, monkeypatch):
    """A worker that stops (cancel, failure) says why its unfinished pieces were not made; a regeneration
    whose job was lost can be asked for again once it is stale, but not while it may still be running."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs import services
    from jobs.ideas import IdeasWorker
    from jobs.providers import Providers
    from jobs.run import JobRun
    from media_pipeline.process import Signal

    task = make_task(h264_file, status="succeeded")
    idea = Idea.objects.create(task=task, index=0, kind="reel", title="A reel", start=0, end=5, status="pending")
    job = JobRun(task=task, cancel=Signal(), providers=Providers(task.pk))
    worker = IdeasWorker(job, segments=lambda: [], duration=10, analyses=lambda: [])
    worker.error = "The job stopped before the content ideas were finished."
    worker._settle_pending()
    idea.refresh_from_db()
    assert idea.status == "dropped" and idea.errors == [worker.error]
    assert events(task, "piece_ready")[-1]["status"] == "dropped"

    queued = []
    monkeypatch.setattr(services, "async_task", lambda *a, **k: queued.append(a))
    Idea.objects.filter(pk=idea.pk).update(status="pending", updated_at=timezone.now())
    assert services.request_regenerate(idea=idea) is False  # may still be running
    stale = timezone.now() - timedelta(seconds=settings.REGENERATE_STALE_AFTER + 5)
    Idea.objects.filter(pk=idea.pk).update(updated_at=stale)
    assert services.request_regenerate(idea=idea) is True and len(queued) == 1


def test_work_nobody_waits_for_yet_starts_after_the_first_chunk(make_task, talk, settings, monkeypatch):
    """The kit's frames and the analysis of later intervals wait for the first chunk (JobRun.first_chunk):
    on two cores they would take the CPU the first words and the first chunk need."""
    import threading
    import time

    from jobs import pipeline
    from jobs.intervals import IntervalPipeline
    from media_pipeline.kit import frames

    path, segments = talk
    task = with_sidecar(make_task(path, interval=10), segments)
    task.params = {**task.params, **OPTIONS, "ideas": False}
    task.save()
    seen: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def record(what: str, index: int) -> None:
        with lock:
            seen.append((what, index, time.monotonic()))

    def announce(job, outcome, **kwargs):
        record("announce", outcome.chunk.index)
        return real_announce(job, outcome, **kwargs)

    def signal(self, iv):
        record("signal", iv.index)
        return real_signal(self, iv)

    def grab(*args, **kwargs):
        record("frames", kwargs["nice"])  # the index slot holds the nice the frames' ffmpeg runs at
        return real_grab(*args, **kwargs)

    real_announce, real_signal, real_grab = pipeline._announce_chunk, IntervalPipeline._signal, frames.grab_frames
    monkeypatch.setattr(pipeline, "_announce_chunk", announce)
    monkeypatch.setattr(IntervalPipeline, "_signal", signal)
    monkeypatch.setattr(frames, "grab_frames", grab)

    assert run_task(str(task.pk)) == "succeeded"
    first = min(t for what, index, t in seen if what == "announce")
    later = [(what, index, t) for what, index, t in seen if what == "frames" or (what == "signal" and index > 0)]
    assert {what for what, _, _ in later} == {"frames", "signal"}
    assert all(t >= first for _, _, t in later), seen
    assert [index for what, index, _ in seen if what == "frames"] == [10]  # and at a lower CPU priority
    assert any(what == "signal" and index == 0 and t < first for what, index, t in seen)
