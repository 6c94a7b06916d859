"""The content key of a part-by-part upload is built as the parts arrive: the last part hashes only its own
bytes (plus the block it finishes), and the key equals the one a classic upload of the same file gets."""

from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace

import pytest
from django.urls import reverse

from jobs.models import ProcessingTask
from media_pipeline import files
from media_pipeline.files import DIGEST_BLOCK, file_content_digest

pytestmark = pytest.mark.django_db
PART = 1024 * 1024 + 12345  # parts that straddle the fixed digest blocks


class CountingSha256:
    """hashlib.sha256 that adds up the bytes it is given (stands in for it in media_pipeline.files)."""

    hashed = 0

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashlib.sha256()
        self.update(data)

    def update(self, data: bytes) -> None:
        CountingSha256.hashed += len(data)
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def send_in_parts(client, data: bytes, *, on_last=None) -> dict:
    size = len(data)
    opened = client.post(reverse("upload-start"), {"filename": "talk.mp4", "size": size, "interval": 30}).json()
    answer: dict = {}
    for start in range(0, size, PART):
        block = data[start : start + PART]
        last = start + len(block) >= size
        if last and on_last is not None:
            on_last()
        answer = client.put(
            opened["upload_url"],
            block,
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(block) - 1}/{size}",
        ).json()
    return {**opened, **answer}


def test_the_last_part_hashes_only_its_own_bytes_and_the_key_matches_a_whole_file_hash(alice, monkeypatch, tmp_path):
    data = os.urandom(3 * DIGEST_BLOCK + 777)
    monkeypatch.setattr(files, "hashlib", SimpleNamespace(sha256=CountingSha256))  # this module's only
    answer = send_in_parts(alice, data, on_last=lambda: setattr(CountingSha256, "hashed", 0))
    assert answer["complete"] is True
    last_part = len(data) % PART or PART
    blocks = -(-len(data) // DIGEST_BLOCK)
    # At most: the part itself, the rest of the block it finished, and the final hash over the block digests.
    assert CountingSha256.hashed <= last_part + DIGEST_BLOCK + 32 * blocks
    assert CountingSha256.hashed < len(data) / 2  # not the whole file again
    task = ProcessingTask.objects.get(pk=answer["task_id"])
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(data)
    monkeypatch.undo()
    assert task.content_key == file_content_digest(whole)
    assert not task.upload_part_file().with_name(task.upload_part_file().name + ".blocks").exists()


def test_a_classic_upload_of_the_same_file_gets_the_same_key_and_reuses_the_result(alice, tmp_path):
    data = os.urandom(DIGEST_BLOCK + 5000)
    parted = ProcessingTask.objects.get(pk=send_in_parts(alice, data)["task_id"])
    ProcessingTask.objects.filter(pk=parted.pk).update(status="succeeded")
    video = tmp_path / "again.mp4"
    video.write_bytes(data)
    with open(video, "rb") as fh:
        r = alice.post(reverse("upload"), {"file": fh, "interval": 30}, HTTP_ACCEPT="application/json")
    assert r.status_code == 201
    assert r.json()["task_id"] == str(parted.pk)  # the same work, offered again
