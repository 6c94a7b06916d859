"""The named readers of the event log (ProcessingTask.chunks() …) and the task folder's layout (TaskFiles).

Events are written the one way the jobs write them (reporter.emit) on real rows. A re-delivered job may
announce the same piece of work twice: every reader keeps the first announcement.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from jobs.layout import TaskFiles
from jobs.models import ProcessingTask
from jobs.reporter import emit

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(owner):
    return ProcessingTask.objects.create(owner=owner, title="talk.mp4", params={"interval": 10})


def chunk(task, index: int, *, url: str = "", commentary: dict | None = None, **data) -> None:
    url = url or task.media_url(TaskFiles.chunk_name(index))
    data = {"index": index, "start": index * 10.0, "duration": 10.0, "url": url, "commentary": commentary, **data}
    emit(task.pk, "chunk_ready", stage="chunk", data=data)


def transcript(task, index: int, start: float, end: float, *texts: str) -> None:
    segments = [
        {"start": start + i, "end": start + i + 1, "text": t, "words": [[start + i, start + i + 0.5, t]]}
        for i, t in enumerate(texts)
    ]
    emit(task.pk, "transcript_ready", data={"index": index, "start": start, "end": end, "segments": segments})


def test_it_reads_nothing_from_a_task_without_events(task):
    assert task.chunks() == []
    assert task.chunk_indexes() == set()
    assert task.analyses() == []
    assert task.analysed_indexes() == set()
    assert task.transcript_pieces() == []
    assert task.transcribed_starts() == set()
    assert task.transcript() == []
    assert task.commentary() == []
    assert task.commentary_cues() == []
    assert task.announced_ideas() == []
    assert task.announced_pieces() == []
    assert task.events.counts() == {}


def test_it_lists_chunks_once_each_in_index_order_keeping_the_first(task):
    chunk(task, 1, url="/first-1")
    chunk(task, 0, url="/first-0")
    chunk(task, 1, url="/again-1")  # a re-delivered job announcing chunk 1 again

    assert [(c["index"], c["url"]) for c in task.chunks()] == [(0, "/first-0"), (1, "/first-1")]
    assert task.chunk_indexes() == {0, 1}


def test_it_reads_only_its_own_task(task, owner):
    other = ProcessingTask.objects.create(owner=owner, title="other.mp4")
    chunk(other, 0)
    emit(other.pk, "analysis_ready", data={"index": 0, "score": 90})

    assert task.chunks() == []
    assert task.analyses() == []
    assert [c["index"] for c in other.chunks()] == [0]


def test_it_lists_analyses_once_per_interval_in_index_order(task):
    emit(task.pk, "analysis_ready", data={"index": 2, "score": 20})
    emit(task.pk, "analysis_ready", data={"index": 0, "score": 50})
    emit(task.pk, "analysis_ready", data={"index": 2, "score": 99})

    assert task.analyses() == [{"index": 0, "score": 50}, {"index": 2, "score": 20}]
    assert task.analysed_indexes() == {0, 2}


def test_it_keeps_both_pieces_of_a_split_interval_but_a_repeated_piece_once(task):
    # The first interval is transcribed in two pieces that share index 0; the second piece comes again.
    transcript(task, 0, 0.0, 3.0, "hello", "there")
    transcript(task, 0, 3.0, 10.0, "general")
    transcript(task, 1, 10.0, 20.0, "kenobi")
    transcript(task, 0, 3.0, 10.0, "REPEATED")

    assert [(p["index"], p["start"]) for p in task.transcript_pieces()] == [(0, 0.0), (0, 3.0), (1, 10.0)]
    assert task.transcribed_starts() == {0.0, 3.0, 10.0}
    segments = task.transcript()
    assert [s.text for s in segments] == ["hello", "there", "general", "kenobi"]
    assert segments[0].words[0].text == "hello"  # the words come with it (the ideas need them)
    # The API counts transcript intervals, not pieces.
    assert len(task.events.of("transcript_ready").indexes()) == 2


def test_it_puts_the_transcript_in_time_order_whatever_the_order_announced(task):
    transcript(task, 1, 10.0, 20.0, "second")
    transcript(task, 0, 0.0, 10.0, "first")

    assert [s.text for s in task.transcript()] == ["first", "second"]


def test_it_reads_commentary_from_the_chunks_that_carry_it(task):
    said = {"text": "Look at that", "start": 10.5, "end": 12.0, "voice": "en-us"}
    chunk(task, 0)
    chunk(task, 1, commentary=said)
    chunk(task, 1, commentary={**said, "text": "Said again"})

    assert task.commentary() == [{"index": 1, **said}]
    assert [(c.start, c.end, c.text) for c in task.commentary_cues()] == [(10.5, 12.0, "Look at that")]


def test_it_keeps_every_idea_and_piece_announcement_in_the_order_written(task):
    emit(task.pk, "idea_ready", data={"index": 0, "title": "A"})
    emit(task.pk, "piece_ready", data={"index": 0, "status": "ready"})
    emit(task.pk, "piece_ready", data={"index": 0, "status": "rendered"})

    assert task.announced_ideas() == [{"index": 0, "title": "A"}]
    assert [p["status"] for p in task.announced_pieces()] == ["ready", "rendered"]
    assert task.events.counts() == {"idea_ready": 1, "piece_ready": 2}
    assert [e.seq for e in task.events.after(1)] == [2, 3]


def test_the_playlist_and_the_export_apply_the_same_rule(client, owner, task):
    said = {"text": "First words", "start": 0.5, "end": 2.0}
    chunk(task, 0, url="/first", commentary=said)
    chunk(task, 0, url="/again", commentary={**said, "text": "Again"})
    emit(task.pk, "analysis_ready", data={"index": 0, "score": 10})
    emit(task.pk, "analysis_ready", data={"index": 0, "score": 80})
    client.force_login(owner)

    playlist = client.get(reverse("playlist", args=[task.pk])).content.decode()
    assert playlist.count("#EXTINF") == 1
    assert "/first" in playlist and "/again" not in playlist
    exported = json.loads(client.get(reverse("export", args=[task.pk, "json"])).content)
    assert exported["commentary"] == [{"index": 0, **said}]
    assert exported["intervals"] == [{"index": 0, "score": 10}]


def test_every_name_the_jobs_make_is_one_a_media_url_may_ask_for(task):
    files = task.files
    assert files.root == task.workdir()
    names = {
        TaskFiles.chunk_name(7): "video/mp2t",
        TaskFiles.thumb_name(7): "image/jpeg",
        TaskFiles.FINAL: "video/mp4",
        TaskFiles.reel_name(0, 2): "video/mp4",
        f"{TaskFiles.carousel_dir(11, 1)}/slide-01.png": "image/png",
        f"{TaskFiles.carousel_dir(11, 1)}/carousel.zip": "application/zip",
    }
    for name, content_type in names.items():
        assert TaskFiles.content_type(name) == content_type, name
        assert files.name_of(files.path(name)) == name
    assert TaskFiles.reel_name(0, 2) == "pieces/01/reel-v2.mp4"
    assert files.chunk(7) == files.root / "chunks" / "00007.ts"
    assert files.final == files.root / "final.mp4"


@pytest.mark.parametrize(
    "name",
    ["source.mp4", "upload.part", "sidecar.srt", "speech/00000.wav", "exports/all-3.zip", "chunks/7.ts"]
    + ["../x/final.mp4", "pieces/01/../../source.mp4"],
)
def test_it_serves_no_other_name(name):
    assert TaskFiles.content_type(name) is None


def test_it_finds_the_subtitles_uploaded_with_the_video(task):
    files = task.files
    assert files.sidecar() is None
    target = files.sidecar_target(".vtt")
    target.parent.mkdir(parents=True)
    target.write_text("WEBVTT\n")
    assert files.sidecar() == target


def test_refined_words_replace_the_fast_first_words_in_every_reader(task, client, owner):
    transcript(task, 0, 0.0, 8.0, "fast", "guess")  # tiny.en's first words
    transcript(task, 0, 8.0, 10.0, "rest")
    emit(
        task.pk,
        "transcript_ready",
        data={
            "index": 0,
            "start": 0.0,
            "end": 8.0,
            "refined": True,
            "segments": [{"start": 0.5, "end": 2.0, "text": "refined words", "words": []}],
        },
    )
    transcript(task, 0, 0.0, 8.0, "a re-delivered fast guess")  # an unrefined repeat never wins back

    assert [(p["start"], p.get("refined", False)) for p in task.transcript_pieces()] == [(0.0, True), (8.0, False)]
    assert [s.text for s in task.transcript()] == ["refined words", "rest"]
    client.force_login(owner)
    srt = client.get(reverse("transcript", args=[task.pk, "srt"])).content.decode()
    assert "refined words" in srt and "fast" not in srt and "guess" not in srt
