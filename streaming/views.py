"""Bytes to browsers: the HLS playlist and the task's media files, owners only."""

from __future__ import annotations

import json
import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_http_methods

from jobs.models import ProcessingTask, ProgressUpdate
from media_pipeline.transcript.subtitles import to_srt, to_txt, to_vtt
from media_pipeline.transcript.types import Segment

from .hls import Segment as HlsSegment
from .hls import event_playlist
from .ranges import serve_file

# The only names a media URL may ask for; everything else is 404 (no path is ever taken from the user).
MEDIA_NAMES = {
    re.compile(r"^chunks/\d{5}\.ts$"): "video/mp2t",
    re.compile(r"^thumbs/\d{5}\.jpg$"): "image/jpeg",
    re.compile(r"^final\.mp4$"): "video/mp4",
    re.compile(r"^pieces/\d{2}/reel-v\d+\.mp4$"): "video/mp4",
    re.compile(r"^pieces/\d{2}/carousel-v\d+/[A-Za-z0-9_-]{1,60}\.png$"): "image/png",
    re.compile(r"^pieces/\d{2}/carousel-v\d+/[A-Za-z0-9_-]{1,60}\.zip$"): "application/zip",
}


def _owned_task(request, task_id) -> ProcessingTask:
    return get_object_or_404(ProcessingTask.objects.for_user(request.user), pk=task_id)


@login_required
@require_GET
def playlist(request, task_id):
    task = _owned_task(request, task_id)
    events = ProgressUpdate.objects.filter(task=task, type=ProgressUpdate.Type.CHUNK_READY).only("data")
    segments = [HlsSegment(index=e.data["index"], duration=e.data["duration"], url=e.data["url"]) for e in events]
    text = event_playlist(
        segments, target_duration=int(task.result.get("target_duration", 1 + int(task.params.get("interval", 30)))),
        ended=task.is_finished,
    )  # fmt: skip
    response = HttpResponse(text, content_type="application/vnd.apple.mpegurl")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_http_methods(["GET", "HEAD"])
def media(request, task_id, name):
    task = _owned_task(request, task_id)
    content_type = next((ct for pattern, ct in MEDIA_NAMES.items() if pattern.match(name)), None)
    if content_type is None:
        raise Http404("No such file.")
    path = task.workdir() / name
    if not path.is_file():
        raise Http404("Not ready yet.")
    download = None
    if request.GET.get("download") and (name == "final.mp4" or name.startswith("pieces/")):
        suffix = "repurposed.mp4" if name == "final.mp4" else name.replace("/", "-")
        download = f"{_stem(task)}-{suffix}"
    response = serve_file(request, path, content_type=content_type, download_name=download)
    if name.startswith(("chunks/", "thumbs/")):
        response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


TRANSCRIPT_FORMATS = {
    "srt": ("application/x-subrip", to_srt),
    "vtt": ("text/vtt", to_vtt),
    "txt": ("text/plain", to_txt),
}


def transcript_segments(task: ProcessingTask) -> list[Segment]:
    """The transcript so far, rebuilt from its `transcript_ready` events, in time order."""
    rows = ProgressUpdate.objects.filter(task=task, type=ProgressUpdate.Type.TRANSCRIPT_READY).only("data")
    # One event per piece (the first interval may come in two); a piece announced twice counts once.
    by_start = {round(row.data["start"], 3): row.data.get("segments", []) for row in rows}
    return [
        Segment(start=seg["start"], end=seg["end"], text=seg["text"])
        for start in sorted(by_start)
        for seg in by_start[start]
    ]


@login_required
@require_GET
def transcript(request, task_id, fmt):
    task = _owned_task(request, task_id)
    content_type, write = TRANSCRIPT_FORMATS[fmt]
    response = HttpResponse(write(transcript_segments(task)), content_type=f"{content_type}; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{_stem(task)}-transcript.{fmt}"'
    return response


def _stem(task: ProcessingTask) -> str:
    """A safe file name stem from the task's title."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task.title.rsplit(".", 1)[0])[:80] or "video"


def commentary_cues(task: ProcessingTask) -> list[Segment]:
    """The spoken commentary as cues, from the chunk_ready events that carry it."""
    rows = ProgressUpdate.objects.filter(task=task, type=ProgressUpdate.Type.CHUNK_READY).only("data")
    cues = [row.data["commentary"] for row in rows if row.data.get("commentary")]
    return [Segment(start=c["start"], end=c["end"], text=c["text"]) for c in sorted(cues, key=lambda c: c["start"])]


@login_required
@require_GET
def commentary(request, task_id):
    task = _owned_task(request, task_id)
    response = HttpResponse(to_vtt(commentary_cues(task)), content_type="text/vtt; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_GET
def export(request, task_id, fmt):
    """The task's ideas, pieces and commentary as JSON or Markdown, or all media as one ZIP."""
    from jobs.exports import build_media_zip, export_data, export_markdown

    task = _owned_task(request, task_id)
    if fmt == "zip":
        path = build_media_zip(task)
        return serve_file(request, path, content_type="application/zip", download_name=f"{_stem(task)}-content.zip")
    if fmt == "json":
        response = HttpResponse(json.dumps(export_data(task), indent=2, ensure_ascii=False),
                                content_type="application/json; charset=utf-8")  # fmt: skip
    else:
        response = HttpResponse(export_markdown(task), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_stem(task)}-content.{fmt}"'
    return response
