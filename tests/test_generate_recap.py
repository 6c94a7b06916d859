"""A recap of an existing task: a 30–90 s script from its transcript and interval scores, narrated over
clips cut from its own best moments."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from jobs import reporter, services
from jobs.engine import run_task
from jobs.models import ProcessingTask
from media_pipeline.generate.recap import MAX_SECONDS, MIN_SECONDS, write_recap
from media_pipeline.generate.request import GenerateRequest
from media_pipeline.ideas.quality import fragment_reason, sentences

from .generated_checks import streams
from .test_ideas import ten_minute_transcript

SOURCE_SECONDS = 60.0
WPS = 2.6  # espeak-ng's pace, about


def scores(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"index": k, "start": k * 30.0, "end": (k + 1) * 30.0, "score": rng.randint(5, 95), "keywords": []}
        for k in range(n)
    ]


@pytest.mark.parametrize(("seconds", "analysed"), [(45, True), (30, True), (90, True), (60, False)])
def test_the_recap_script_says_the_best_moments_once_each_in_30_to_90_seconds(seconds, analysed):
    segments = ten_minute_transcript()
    analyses = scores(20) if analysed else []
    recap = write_recap(segments, analyses, title="Running a shop", seconds=seconds, words_per_second=WPS)
    said = sentences(recap.script)
    spoken = len(recap.script.split()) / WPS
    assert MIN_SECONDS * 0.8 <= spoken <= MAX_SECONDS, (spoken, recap.script)
    assert len(said) == len(set(said)), recap.script  # no sentence twice
    assert all(fragment_reason(s) is None for s in said), [s for s in said if fragment_reason(s)]
    # Not the transcript read back: fewer than half its sentences are the speaker's, each from its moment.
    transcript = {" ".join(s.text.split()) for s in segments}
    quoted = [s for s in said if any(s.rstrip(".") in t for t in transcript)]
    assert 0 < len(quoted) <= len(said) / 2 + 1, said
    starts = [m.start for m in recap.moments]
    assert starts == sorted(starts) and len(recap.moments) >= 2
    assert {p.moment for p in recap.parts} == {m.index for m in recap.moments}
    if analysed:  # the best-scoring interval is in it, and said to be the strongest
        best = max(analyses, key=lambda a: a["score"])
        assert best["index"] in {m.index for m in recap.moments}
        assert "The strongest moment comes at" in recap.script
        for moment in recap.moments:
            interval = analyses[moment.index]
            assert interval["start"] <= moment.start < interval["end"]


def test_too_little_transcript_is_refused_with_a_sentence():
    from media_pipeline.errors import MediaError
    from media_pipeline.transcript.types import Segment

    with pytest.raises(MediaError) as caught:
        write_recap([Segment(0, 2, "Hello there.")], [], title="x", seconds=45, words_per_second=WPS)
    assert "too little transcript" in caught.value.message


# --- whole jobs -------------------------------------------------------------------------------------------


def hue_source(path: Path) -> Path:
    """60 s whose colour says the time (hue = t/60 of the wheel): 29.97 fps, 426x240, B-frames, 44.1 kHz."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=red:s=426x240:r=30000/1001:d={SOURCE_SECONDS}",
         "-f", "lavfi", "-i", "sine=frequency=220:sample_rate=44100", "-t", str(SOURCE_SECONDS),
         "-vf", f"hue=H=2*PI*t/{SOURCE_SECONDS}:s=1", "-c:v", "libx264", "-preset", "faster", "-bf", "3",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=180,
    )  # fmt: skip
    return path


def mean_colours(video: Path, *, at: float | None = None, fps: int = 4) -> list[tuple[int, int, int]]:
    """The mean colour of the top fifth (above any caption) of one frame at `at`, or of `fps` frames a second."""
    pick = ["-ss", f"{at:.3f}", "-frames:v", "1"] if at is not None else []  # decoded up to `at`: exact
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), *pick,
         "-vf", ("" if at is not None else f"fps={fps},") + "crop=iw:ih/5:0:0,scale=1:1:flags=area",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    data = out.stdout
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data) - 2, 3)]


def source_second(video: Path, at: float, table: list[tuple[int, int, int]], fps: int = 4) -> float:
    """The source time a frame of a recap shows: the source frame of the nearest colour (the hue says the time)."""
    (seen,) = mean_colours(video, at=at)
    best = min(range(len(table)), key=lambda i: sum((a - b) ** 2 for a, b in zip(table[i], seen, strict=True)))
    return best / fps


LINES = [
    "Bees find flowers by their colour and their smell.",
    "A forager dances to tell the hive where the nectar is.",
    "The angle of the waggle dance points the way from the sun.",
    "Its length says how far the flowers are from the hive.",
    "Guard bees check every returning forager at the entrance.",
    "In winter the colony clusters and shivers to stay warm.",
    "The queen can lay two thousand eggs on a summer day.",
    "Drones live for one purpose, and most never leave the hive.",
    "Wax is made by young workers from glands under their bodies.",
    "Honey keeps for years because bees dry it below twenty percent water.",
]


@pytest.fixture
def analysed_task(owner, make_task, tmp_path_factory):
    """A finished video task of the owner's: its transcript, its interval scores and chunks announced as the
    chunks pipeline announces them, and its source (the hue video) on disk."""
    source = hue_source(tmp_path_factory.mktemp("recap") / "bees.mp4")
    task = make_task(source, interval=10)
    ProcessingTask.objects.filter(pk=task.pk).update(title="How bees talk")
    segments = [{"start": i * 6.0, "end": i * 6.0 + 5.0, "text": line, "words": []} for i, line in enumerate(LINES)]
    for k in range(6):
        piece = [s for s in segments if k * 10 <= s["start"] < (k + 1) * 10]
        reporter.emit(task.pk, "transcript_ready", data={"index": k, "start": k * 10.0, "segments": piece})
    for k, score in enumerate([20, 90, 35, 15, 70, 40]):
        data = {"index": k, "start": k * 10.0, "end": (k + 1) * 10.0, "score": score, "keywords": []}
        reporter.emit(task.pk, "analysis_ready", data=data)
        reporter.emit(task.pk, "chunk_ready", data={"index": k, "start": k * 10.0, "end": (k + 1) * 10.0})
    ProcessingTask.objects.filter(pk=task.pk).update(status="succeeded")
    task.refresh_from_db()
    return task


@pytest.mark.django_db(transaction=True)
def test_a_recap_is_narrated_over_clips_of_the_tasks_best_moments(owner, analysed_task, tmp_path):
    request = GenerateRequest.from_data({"from_task": str(analysed_task.pk), "aspect": "16:9", "captions": False})
    task = services.submit_generate(owner=owner, request=request)
    assert task.source == "recap"
    assert run_task(str(task.pk)) == "succeeded", task.events.last().message
    task.refresh_from_db()
    result = task.result
    assert result["recap_of"] == str(analysed_task.pk) and result["title"] == "Recap: How bees talk"
    moments = {m["index"]: m for m in result["moments"]}
    assert 1 in moments and 4 in moments  # the two best-scored intervals
    spoken = len(result["script"].split()) / WPS
    assert MIN_SECONDS * 0.6 <= spoken <= MAX_SECONDS
    scenes = task.chunks()
    assert all("source_start" in s for s in scenes)
    info = streams(task.files.final)
    assert abs(info["format"] - sum(s["duration"] for s in scenes)) <= 1 / 25 + 0.05
    assert abs(float(info["video"]["duration"]) - info["format"]) <= 1 / 25 + 0.05  # picture to the end
    assert (int(info["video"]["width"]), int(info["video"]["height"])) == (1280, 720)
    # Each scene shows its moment's footage: the colour of its frames is the source's at the cut.
    table = mean_colours(analysed_task.source_file())
    for scene in scenes:
        at = scene["duration"] / 2
        seen = source_second(task.files.final, scene["start"] + at, table)
        expected = (scene["source_start"] + at) % SOURCE_SECONDS
        assert abs(seen - expected) < 1.5 or abs(seen - expected) > SOURCE_SECONDS - 1.5, (scene, seen)
        assert any(m["start"] <= scene["source_start"] < m["end"] for m in moments.values())


@pytest.mark.django_db(transaction=True)
def test_a_recap_whose_source_is_gone_uses_title_cards(owner, analysed_task):
    analysed_task.source_file().unlink()
    request = GenerateRequest.from_data({"from_task": str(analysed_task.pk), "aspect": "1:1", "captions": False})
    task = services.submit_generate(owner=owner, request=request)
    assert run_task(str(task.pk)) == "succeeded"
    assert task.events.filter(message__contains="source is gone").exists()
    assert not any("source_start" in s for s in task.chunks())


@pytest.mark.django_db
def test_recaps_of_tasks_one_cannot_recap_are_refused_with_sentences(client, owner, outsider, analysed_task):
    from api.models import ApiToken

    token = ApiToken.create_for(user=owner, name="tests")[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    bare = ProcessingTask.objects.create(owner=owner, title="silent")
    theirs = ProcessingTask.objects.create(owner=outsider, title="not mine")
    for task_id, sentence in [
        (str(bare.pk), "has no transcript"),
        (str(theirs.pk), "no task of yours"),
        ("not-a-uuid", "no task of yours"),
    ]:
        answer = client.post(
            "/api/generate", json.dumps({"from_task": task_id}), content_type="application/json", **headers
        )
        assert answer.status_code == 400 and sentence in answer.json()["errors"]["from_task"][0], answer.json()
    ok = client.post(
        "/api/generate", json.dumps({"from_task": str(analysed_task.pk)}), content_type="application/json", **headers
    )
    assert ok.status_code == 202


@pytest.mark.django_db(transaction=True)
def test_with_a_language_model_it_narrates_the_same_moments_and_a_bad_reply_falls_back(owner, analysed_task, settings):
    from .fake_providers import FakeProviders, prompt_of

    lines = [
        "Foragers report what they found with a dance that the rest of the hive reads closely. "
        "Its direction and its length are a map.",
        "The colony works as one body, and every worker has a job that changes as she ages. "
        "The queen only lays the eggs.",
        "Winter is survived together, with the whole colony sharing warmth and stored honey. "
        "Honey lasts because it is dry.",
    ]

    def good(body):  # one part per moment given, in the order given
        import re

        indexes = [int(i) for i in re.findall(r"\[(\d+)\] at", prompt_of(body)[1])]
        parts = [{"moment": i, "text": lines[n % len(lines)]} for n, i in enumerate(indexes)]
        return json.dumps({"title": "How bees share directions", "parts": parts})

    bad = {"parts": [{"moment": 1, "text": "Bees dance."}, {"moment": 1, "text": "Bees dance."}]}
    made = []
    with FakeProviders() as fake:
        for name, value in fake.settings(api_key="k").items():
            setattr(settings, name, value)
        settings.LLM_PROVIDER = "openai"
        for reply in (good, lambda body: json.dumps(bad)):
            fake.chat_reply = reply
            data = {"from_task": str(analysed_task.pk), "aspect": "1:1", "captions": False, "length": 30}
            task = services.submit_generate(owner=owner, request=GenerateRequest.from_data(data))
            assert run_task(str(task.pk)) == "succeeded"
            task.refresh_from_db()
            made.append(task)
        system, user = prompt_of(fake.requests_to("chat")[0].json)
    assert "not the transcript read back" in system and "The angle of the waggle dance" in user and "[1] at 0:1" in user
    first, fallback = made
    count = len(first.result["moments"])
    assert first.result["script"] == " ".join(lines[n % len(lines)] for n in range(count))
    assert first.title == "How bees share directions" and {1, 4} <= {m["index"] for m in first.result["moments"]}
    note = fallback.events.filter(message__contains="did not hold up").first()
    assert note is not None and "said twice" in note.data["recap_note"]
    assert fallback.result["script"].startswith("Here is the short version of “How bees talk”")
