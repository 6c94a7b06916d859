"""Bytes to browsers: the HLS playlist and the task's media files, owners only."""

from __future__ import annotations

import json
import re
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_http_methods

from jobs.exports import build_media_zip, export_data, export_markdown
from jobs.layout import TaskFiles
from jobs.models import ProcessingTask
from media_pipeline.transcript.subtitles import readable_cues, to_srt, to_txt, to_vtt

from .hls import Segment as HlsSegment
from .hls import event_playlist
from .ranges import serve_file


def _owned_task(request: HttpRequest, task_id: uuid.UUID | str) -> ProcessingTask:
    return get_object_or_404(ProcessingTask.objects.for_user(request.user), pk=task_id)


@login_required
@require_GET
def playlist(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = _owned_task(request, task_id)
    segments = [HlsSegment(index=c["index"], duration=c["duration"], url=c["url"]) for c in task.chunks()]
    text = event_playlist(
        segments,
        target_duration=int(task.result.get("target_duration", 1 + int(task.options.interval))),
        ended=task.is_finished,
    )
    response = HttpResponse(text, content_type="application/vnd.apple.mpegurl")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_http_methods(["GET", "HEAD"])
def media(request: HttpRequest, task_id: uuid.UUID, name: str) -> HttpResponseBase:
    task = _owned_task(request, task_id)
    content_type = TaskFiles.content_type(name)
    if content_type is None:
        raise Http404("No such file.")
    path = task.files.path(name)
    if not path.is_file():
        raise Http404("Not ready yet.")
    download = None
    if request.GET.get("download") and TaskFiles.is_download(name):
        suffix = "repurposed.mp4" if name == TaskFiles.FINAL else name.replace("/", "-")
        download = f"{_stem(task)}-{suffix}"
    response = serve_file(request, path, content_type=content_type, download_name=download)
    if TaskFiles.is_immutable(name):
        response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


TRANSCRIPT_FORMATS = {
    "srt": ("application/x-subrip", to_srt),
    "vtt": ("text/vtt", to_vtt),
    "txt": ("text/plain", to_txt),
}


@login_required
@require_GET
def transcript(request: HttpRequest, task_id: str, fmt: str) -> HttpResponse:
    task = _owned_task(request, task_id)
    content_type, write = TRANSCRIPT_FORMATS[fmt]
    response = HttpResponse(write(task.transcript()), content_type=f"{content_type}; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{_stem(task)}-transcript.{fmt}"'
    return response


def _stem(task: ProcessingTask) -> str:
    """A safe file name stem from the task's title."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task.title.rsplit(".", 1)[0])[:80] or "video"


@login_required
@require_GET
def commentary(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = _owned_task(request, task_id)
    response = HttpResponse(to_vtt(readable_cues(task.commentary_cues())), content_type="text/vtt; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_GET
def export(request: HttpRequest, task_id: str, fmt: str) -> HttpResponseBase:
    """The task's ideas, pieces and commentary as JSON or Markdown, or all media as one ZIP."""
    task = _owned_task(request, task_id)
    if fmt == "zip":
        path = build_media_zip(task)
        return serve_file(request, path, content_type="application/zip", download_name=f"{_stem(task)}-content.zip")
    if fmt == "json":
        response = HttpResponse(
            json.dumps(export_data(task), indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
        )
    else:
        response = HttpResponse(export_markdown(task), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_stem(task)}-content.{fmt}"'
    return response
