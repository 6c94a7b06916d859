"""A full disk is the server's problem: jobs say so (not "your file may be damaged"), and uploads answer 507
with a sentence and keep nothing half-written.

MEDIA_ROOT is a real 16 MB tmpfs mounted for each test, so every "No space left on device" here comes from the
kernel; the tests skip when they cannot mount one (not root, or no permission in this container).
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.engine import run_task
from jobs.models import ProcessingTask
from media_pipeline.errors import DiskFull, is_disk_full
from media_pipeline.process import ProcessFailed, run

pytestmark = pytest.mark.django_db(transaction=True)  # the job's heartbeat thread has its own connection
PART = 1024 * 1024


@pytest.fixture
def media_root(tmp_path, settings):
    """MEDIA_ROOT (and the upload temp dir inside it) on a 16 MB tmpfs, unmounted afterwards."""
    root = tmp_path / "media"
    root.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as MEDIA_ROOT needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(root)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        settings.MEDIA_ROOT = root
        settings.FILE_UPLOAD_TEMP_DIR = str(root / "incoming")
        # The free-space guard would refuse everything on 16 MB; these tests are about writes that fill the
        # disk (the guard has its own, tests/test_ops.py).
        settings.DISK_MIN_FREE_BYTES = 0
        (root / "incoming").mkdir()
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def fill(root: Path, *, leave: int = 0) -> Path:
    """Write a file until the disk is full, then give back about `leave` bytes; returns that file."""
    filler = root / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_ffmpeg_on_a_full_disk_raises_disk_full_not_process_failed(media_root):
    fill(media_root)
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "2",
        "-c:v",
        "rawvideo",
        "-f",
        "avi",
        f"file:{media_root / 'out.avi'}",
    ]
    with pytest.raises(DiskFull) as caught:
        run(argv, timeout=60)
    assert not isinstance(caught.value, ProcessFailed), "callers turn ProcessFailed into 'the file may be damaged'"
    assert caught.value.message == DiskFull.MESSAGE
    assert "No space left on device" in caught.value.detail


def test_a_job_on_a_full_disk_tells_the_user_it_is_not_their_file(make_task, h264_file, media_root):
    task = make_task(h264_file, interval=10)
    fill(media_root)
    assert run_task(str(task.pk)) in ("failed", "crashed")
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.error == DiskFull.MESSAGE
    assert "No space left on device" in task.error_detail
    assert task.events.order_by("seq").last().message == DiskFull.MESSAGE


def test_our_own_writes_on_a_full_disk_count_as_disk_full(media_root):
    fill(media_root)
    with pytest.raises(OSError) as caught:
        (media_root / "note.json").write_bytes(b"x" * PART)
    assert is_disk_full(caught.value)
    try:
        raise RuntimeError("while saving the playlist") from caught.value
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)
    assert not is_disk_full(FileNotFoundError(errno.ENOENT, "gone"))


def test_a_part_on_a_full_disk_is_507_and_the_upload_can_resume(alice, media_root):
    size = 3 * PART
    opened = alice.post(reverse("upload-start"), {"filename": "talk.mp4", "size": size, "interval": 30}).json()
    url = opened["upload_url"]
    put = lambda start: alice.put(  # noqa: E731
        url,
        b"v" * PART,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{start + PART - 1}/{size}",
    )
    assert put(0).json()["offset"] == PART
    filler = fill(media_root, leave=PART // 4)  # the next part gets a quarter of the way
    full = put(PART)
    assert full.status_code == 507
    assert full.json() == {"error": DiskFull.MESSAGE}
    task = ProcessingTask.objects.get(pk=opened["task_id"])
    assert task.upload_part_file().stat().st_size == PART, "the half-written part was cut off"
    assert alice.get(url).json()["offset"] == PART
    filler.unlink()  # the operator makes room; the client sends the part again
    assert put(PART).json()["offset"] == 2 * PART


def test_a_form_upload_on_a_full_disk_is_507_and_leaves_no_temp_file(alice, media_root, tmp_path):
    video = tmp_path / "talk.mp4"
    video.write_bytes(os.urandom(4 * PART))  # the upload handler writes every file to a temp file
    fill(media_root, leave=PART)
    with open(video, "rb") as fh:
        response = alice.post(reverse("upload"), {"file": fh, "interval": 30})
    assert response.status_code == 507
    assert response.json() == {"error": DiskFull.MESSAGE}
    assert list((media_root / "incoming").iterdir()) == []
    assert not ProcessingTask.objects.exists()


def test_a_job_whose_own_write_fills_the_disk_gets_the_same_sentence(make_task, h264_file, media_root, monkeypatch):
    from jobs.pipeline import PIPELINES

    def writes_a_big_file(*, task, cancel):  # a stand-in stage; the ENOSPC is the kernel's
        (task.workdir() / "big.bin").write_bytes(b"x" * 32 * PART)

    task = make_task(h264_file, interval=10)
    monkeypatch.setitem(PIPELINES, task.kind, writes_a_big_file)
    assert run_task(str(task.pk)) == "crashed"
    task.refresh_from_db()
    assert task.error == DiskFull.MESSAGE
    assert "No space left on device" in task.error_detail
