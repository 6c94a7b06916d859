"""A video made from a script through a real daphne and qcluster: the scenes stream over the WebSocket and
the HLS playlist while the rest are being made, and the final MP4 is what a viewer expects."""

from __future__ import annotations

import asyncio

import pytest

from jobs.models import ProcessingTask

from .generated_checks import check_generated
from .live import Client, LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCRIPT = (
    "Bees talk with their bodies. A forager back from the field dances on the comb. "
    "The angle of the dance points to the flowers, and its length tells how far they are. "
    "Other bees follow the steps, then fly straight there."
)


def test_a_script_streams_scene_by_scene_through_the_real_queue(live: LiveStack, owner, tmp_path):
    client = Client(live.base_url).login("alice", "alice-pass-1234")
    response = client.http.post(
        "/api/generate",
        json={"script": SCRIPT, "aspect": "9:16", "title": "How bees talk"},
        headers={"X-CSRFToken": client.csrf, "Referer": live.base_url + "/make/"},
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    playlists: list[str] = []

    async def on_event(event: dict, got: list[dict]) -> None:
        # The moment the first scene is announced, the player's playlist has it, and the video is not done.
        if event["type"] == "chunk_ready" and event["data"]["index"] == 0:
            playlists.append(client.http.get(f"/tasks/{task_id}/hls/playlist.m3u8").text)

    events = asyncio.run(client.events(task_id, timeout=240, on_event=on_event))
    assert events[-1]["type"] == "complete", [(e["type"], e["message"]) for e in events]
    scenes = [e["data"] for e in events if e["type"] == "chunk_ready"]
    task = ProcessingTask.objects.get(pk=task_id)
    assert task.status == "succeeded" and [s["index"] for s in scenes] == list(range(task.result["chunks"]))
    assert len(scenes) >= 3
    first = playlists[0]
    assert "/media/chunks/00000.ts" in first and "#EXT-X-ENDLIST" not in first
    # The first scene is playable (its bytes served) and the final video is offered at the end.
    clip = client.http.get(scenes[0]["url"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp2t" and len(clip.content) > 5_000
    final = client.http.get(events[-1]["data"]["final_url"])
    assert final.status_code == 200 and final.content[4:8] == b"ftyp"
    assert final.content.find(b"moov") < final.content.find(b"mdat")  # faststart
    ended = client.http.get(f"/tasks/{task_id}/hls/playlist.m3u8").text
    assert ended.count("#EXTINF") == len(scenes) and ended.rstrip().endswith("#EXT-X-ENDLIST")
    check_generated(task.files.final, scenes, tmp_path, script=SCRIPT)
