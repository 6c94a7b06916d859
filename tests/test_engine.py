"""The job engine in-process: claim, events, metrics, failure, cancel, crash recovery.

Transactional: the heartbeat thread reads the task through its own connection, as in a real worker.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs import services
from jobs.engine import run_task
from jobs.models import PerformanceMetrics, ProcessingTask, ProgressUpdate

from . import media

pytestmark = pytest.mark.django_db(transaction=True)


def events(task):
    return list(ProgressUpdate.objects.filter(task=task).order_by("seq"))


def run_in_thread(task) -> threading.Thread:
    """run_task in a thread of its own, as a worker process would, closing its connection at the end."""
    results = []

    def target():
        try:
            results.append(run_task(str(task.pk)))
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.results = results
    thread.start()
    return thread


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_it_runs_a_task_to_the_end(make_task, h264_file):
    task = make_task(h264_file, interval=10)
    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    assert task.status == "succeeded" and task.progress == 100 and task.attempts == 1
    assert task.result["chunks"] == 3 and task.result["copied_chunks"] == 3
    evs = events(task)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    chunks = [e for e in evs if e.type == "chunk_ready"]
    assert [e.data["index"] for e in chunks] == [0, 1, 2]
    assert all(e.data["url"].endswith(f"chunks/{i:05d}.ts") for i, e in enumerate(chunks))
    assert evs[-1].type == "complete" and evs[-1].data["final_url"].endswith("final.mp4")
    progress = [e.progress for e in evs]
    assert progress == sorted(progress)
    assert (task.workdir() / "final.mp4").stat().st_size > 10_000
    operations = set(PerformanceMetrics.objects.filter(task=task).values_list("operation", flat=True))
    # asr_load: the model loaded when the job started (SpeechWarmup) and found loaded by the transcript;
    # asr_detect: the spoken language, asked of the main model on the first piece (no tag, no page option).
    assert operations == {"ffprobe", "plan", "chunk", "asr_load", "asr_detect", "transcribe", "finalize", "kit.frames"}
    loads = PerformanceMetrics.objects.filter(task=task, operation="asr_load")
    assert [m.data["engine"] for m in loads] and all(m.success for m in loads)
    assert any(m.data["cached"] for m in loads), [m.data for m in loads]  # the warm-up's load was reused
    # A tone is not speech: every interval gets its (empty) transcript, and the job still ends well. The
    # first one twice: base's quick first pass, then the full pass that refines it (ASR_QUICK_FIRST).
    transcripts = [e for e in evs if e.type == "transcript_ready"]
    assert [(e.data["index"], bool(e.data.get("refined"))) for e in transcripts] == [
        (0, False),
        (0, True),
        (1, False),
        (2, False),
    ]
    assert [piece["index"] for piece in task.transcript_pieces()] == [0, 1, 2]
    assert all(e.data["source"] == "asr:whisper-base" for e in transcripts)
    assert PerformanceMetrics.objects.filter(task=task, operation="chunk").count() == 3


def test_a_second_delivery_does_nothing(make_task, h264_file):
    task = make_task(h264_file, interval=10, transcribe=False)
    run_task(str(task.pk))
    count = ProgressUpdate.objects.filter(task=task).count()
    assert run_task(str(task.pk)) == "not claimed"
    assert ProgressUpdate.objects.filter(task=task).count() == count


def test_two_workers_racing_for_one_task_run_it_once(make_task, h264_file):
    task = make_task(h264_file, interval=10, transcribe=False)
    threads = [run_in_thread(task) for _ in range(2)]
    for t in threads:
        t.join()
    assert sorted(threads[0].results + threads[1].results) == ["not claimed", "succeeded"]
    assert ProgressUpdate.objects.filter(task=task, type="chunk_ready").count() == 3


def test_a_bad_file_fails_with_a_sentence(make_task, tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(50_000))
    task = make_task(noise)
    assert run_task(str(task.pk)) == "failed"
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.error.startswith("This file is not a video we can read.")
    assert "ffprobe exited" in task.error_detail
    last = events(task)[-1]
    assert last.type == "error" and last.message == task.error


def leftover_processes(task) -> list:
    """Processes (ffmpeg, ffprobe) still working on the task's files."""
    import psutil

    return [p for p in psutil.process_iter(["cmdline"]) if str(task.workdir()) in " ".join(p.info["cmdline"] or [])]


def test_cancel_stops_a_running_task_and_its_ffmpeg(make_task, tmp_path):
    src = media.mpeg4_avi(tmp_path / "long.avi", seconds=90, size="640x360")
    task = make_task(src, interval=10)
    thread = run_in_thread(task)
    wait_for(lambda: ProgressUpdate.objects.filter(task=task, type="chunk_ready").exists(), timeout=120)
    asked = time.monotonic()
    assert services.request_cancel(task=task)
    # A cancel waits for nothing that cannot be interrupted (a speech model still loading is released in a
    # thread of its own), so the job ends within a poll or two and the kill's grace period. The bound is
    # generous for a loaded machine, but a cancel that waits for a model load (and then the rest of the
    # job's waits) overruns it.
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 20, "the cancel waited for something it should not (a model load?)"
    assert thread.results == ["cancelled"]
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert events(task)[-1].type == "cancelled"
    assert ProgressUpdate.objects.filter(task=task, type="chunk_ready").count() < 9
    assert leftover_processes(task) == [], "an ffmpeg of the job outlived it"
    assert not list(task.workdir().rglob("*.tmp*")), "a half-written output was left behind"
    for event in ProgressUpdate.objects.filter(task=task, type="chunk_ready"):  # each with its thumbnail
        assert task.files.thumb(event.data["index"]).stat().st_size > 1000


def test_cancelling_a_queued_task_stops_it_before_it_starts(make_task, h264_file):
    task = make_task(h264_file)
    assert services.request_cancel(task=task)
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert run_task(str(task.pk)) == "not claimed"


def test_a_dead_workers_task_is_taken_over_and_keeps_finished_chunks(make_task, h264_file):
    task = make_task(h264_file, interval=10, transcribe=False)
    run_task(str(task.pk))
    first_chunk = task.workdir() / "chunks/00000.ts"
    stamp = first_chunk.stat().st_mtime_ns
    (task.workdir() / "final.mp4").unlink()
    # Pretend the worker died half-way: running, heartbeat long gone.
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="running", worker="gone:1", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert run_task(str(task.pk)) == "succeeded"
    task.refresh_from_db()
    assert task.attempts == 2
    assert first_chunk.stat().st_mtime_ns == stamp
    # Chunks announced by the first attempt are not announced twice.
    indexes = [e.data["index"] for e in ProgressUpdate.objects.filter(task=task, type="chunk_ready")]
    assert sorted(indexes) == [0, 1, 2]


def test_a_takeover_first_removes_what_the_dead_attempt_left_half_written(make_task, h264_file):
    task = make_task(h264_file, interval=10, transcribe=False)
    run_task(str(task.pk))
    (task.workdir() / "final.mp4").unlink()
    # What a worker killed with SIGKILL mid-render leaves: temp files atomic_output never renamed.
    half = [task.workdir() / "chunks/.00002.0a1b2c3d.tmp.ts", task.workdir() / "pieces/01/.reel.9f8e7d6c.tmp.mp4"]
    for path in half:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 1_500_000)
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="running", worker="gone:1", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert run_task(str(task.pk)) == "succeeded"
    assert not any(path.exists() for path in half)
    assert not list(task.workdir().rglob("*.tmp*"))


def test_a_taken_over_task_continues_from_the_progress_already_reached(make_task, h264_file):
    task = make_task(h264_file, interval=10, transcribe=False)
    run_task(str(task.pk))
    (task.workdir() / "final.mp4").unlink()
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="running", worker="gone:1", progress=92, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    first_attempt = ProcessingTask.objects.get(pk=task.pk).last_seq
    assert run_task(str(task.pk)) == "succeeded"
    progress = [e.progress for e in events(task) if e.seq > first_attempt]
    assert len(progress) > 2 and min(progress) == 92 and progress == sorted(progress) and progress[-1] == 100


def test_requeue_stale_gives_up_after_max_attempts(make_task, h264_file, settings):
    task = make_task(h264_file)
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="running", attempts=settings.JOB_MAX_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert services.requeue_stale() == {"requeued": 0, "failed": 1, "cancelled": 0, "resent": 0}
    task.refresh_from_db()
    assert task.status == "failed" and "stopped unexpectedly" in task.error


def test_requeue_stale_enqueues_a_task_with_attempts_left(make_task, h264_file):
    from django_q.models import OrmQ

    task = make_task(h264_file, transcribe=False)
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    before = OrmQ.objects.count()
    assert services.requeue_stale() == {"requeued": 1, "failed": 0, "cancelled": 0, "resent": 0}
    assert OrmQ.objects.count() == before + 1
    task.refresh_from_db()
    assert task.status == "queued"
    # A second sweep (or a second machine running the same schedule) finds nothing more to do.
    assert services.requeue_stale() == {"requeued": 0, "failed": 0, "cancelled": 0, "resent": 0}
    assert OrmQ.objects.count() == before + 1
    assert run_task(str(task.pk)) == "succeeded"


def test_a_dead_workers_task_that_the_user_cancelled_ends_cancelled(make_task, h264_file):
    task = make_task(h264_file)
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert services.request_cancel(task=task)  # only sets the flag: the task looks running
    assert services.requeue_stale() == {"requeued": 0, "failed": 0, "cancelled": 1, "resent": 0}
    task.refresh_from_db()
    assert task.status == "cancelled" and events(task)[-1].type == "cancelled"


def test_a_job_stops_itself_before_the_queue_timeout_would_kill_it(make_task, tmp_path, settings):

    settings.JOB_TIMEOUT = 4  # the job's own deadline: half of it, 2 s
    src = media.mpeg4_avi(tmp_path / "slow.avi", seconds=90, size="640x360")
    task = make_task(src, interval=90)
    assert run_task(str(task.pk)) == "timed out"
    task.refresh_from_db()
    assert task.status == "failed" and "took longer than the limit" in task.error
    assert events(task)[-1].type == "error"
    assert leftover_processes(task) == []


def test_a_queued_task_whose_queue_entry_was_lost_is_enqueued_again(make_task, h264_file):
    from django_q.models import OrmQ

    make_task(h264_file)  # queued, never enqueued: as if its queue entry had been lost
    # A task and its entry are written in one transaction, so a task without a free entry needs one now.
    assert services.requeue_stale()["resent"] == 1
    assert OrmQ.objects.count() == 1
    assert services.requeue_stale()["resent"] == 0, "its entry is there now"
    OrmQ.objects.update(lock=timezone.now() + timedelta(hours=6))  # fetched by a cluster that then died
    assert services.requeue_stale()["resent"] == 1, "an entry a cluster holds wakes no idle worker"
    assert OrmQ.objects.count() == 2


def test_speech_in_the_video_becomes_a_transcript_interval_by_interval(make_task, tmp_path):
    import subprocess

    wav = tmp_path / "speech.wav"
    subprocess.run(
        [
            "espeak-ng",
            "-s",
            "150",
            "-w",
            str(wav),
            "Good morning. Today we talk about rivers. The river carries water to the sea.",
        ],
        check=True,
        timeout=60,
    )
    src = tmp_path / "talk.mp4"
    media.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-i",
        str(wav),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(src),
    )
    task = make_task(src, interval=10)
    assert run_task(str(task.pk)) == "succeeded"
    words = " ".join(
        seg["text"]
        for e in ProgressUpdate.objects.filter(task=task, type="transcript_ready").order_by("seq")
        for seg in e.data["segments"]
    ).lower()
    for expected in ("morning", "rivers", "water", "sea"):
        assert expected in words, words
    task.refresh_from_db()
    assert task.result["transcript"] == "asr:whisper-base"


def test_subtitles_uploaded_with_the_video_are_the_transcript(make_task, h264_file):
    task = make_task(h264_file, interval=10)
    (task.workdir() / "sidecar.srt").write_text(
        "1\n00:00:02,000 --> 00:00:04,000\nFrom the sidecar\n\n2\n00:00:12,000 --> 00:00:13,000\nSecond\n"
    )
    assert run_task(str(task.pk)) == "succeeded"
    by_index = {
        e.data["index"]: [s["text"] for s in e.data["segments"]]
        for e in ProgressUpdate.objects.filter(task=task, type="transcript_ready")
    }
    assert by_index == {0: ["From the sidecar"], 1: ["Second"], 2: []}
    assert not PerformanceMetrics.objects.filter(task=task, operation="transcribe").exists()


def test_transcribe_off_makes_no_transcript(make_task, h264_file):
    task = make_task(h264_file, interval=10)
    ProcessingTask.objects.filter(pk=task.pk).update(params={"interval": 10, "transcribe": False})
    assert run_task(str(task.pk)) == "succeeded"
    assert not ProgressUpdate.objects.filter(task=task, type="transcript_ready").exists()


def test_the_first_interval_is_transcribed_in_two_pieces_for_quick_first_words():
    from jobs.transcribe import asr_pieces
    from media_pipeline.plan import Interval

    plan = [Interval(0, 0.0, 30.0, True), Interval(1, 30.0, 60.0, True)]
    pieces = asr_pieces(plan, 8.0)
    assert [(p.index, p.start, p.end) for p in pieces] == [(0, 0.0, 8.0), (0, 8.0, 30.0), (1, 30.0, 60.0)]
    assert asr_pieces([Interval(0, 0.0, 12.0, True)], 8.0) == [Interval(0, 0.0, 12.0, True)]  # too short to split
