"""The JSON API for scripts: create a task, read it and its events, cancel it, list tasks.

Views fetch with permission (another user's task is a 404, like a missing one), bind the pages' own forms,
call the same services as the pages, and answer JSON: errors are sentences under "error".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.ideas import piece_data
from jobs.models import ProcessingTask, ProgressUpdate
from repurposer.forms import human_size
from repurposer.http import AuthenticatedRequest

from . import options
from .auth import api_view, error, not_found, parse_task_id

DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_EVENTS = 500


def task_urls(task: ProcessingTask) -> dict[str, str]:
    urls = {
        "task": reverse("api-task", args=[task.pk]),
        "watch": reverse("watch", args=[task.pk]),
        "events": reverse("api-task-events", args=[task.pk]),
        "cancel": reverse("api-task-cancel", args=[task.pk]),
        "stream": reverse("analyze-stream", args=[task.pk]),
    }
    if task.source_path or task.source == ProcessingTask.Source.UPLOAD:
        urls["playlist"] = reverse("playlist", args=[task.pk])
    if task.status == ProcessingTask.Status.SUCCEEDED and task.result.get("final"):
        urls["final_video"] = reverse("task-media", args=[task.pk, task.result["final"]])
    return urls


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def task_summary(task: ProcessingTask) -> dict[str, Any]:
    return {
        "task_id": str(task.pk),
        "status": task.status,
        "stage": task.stage,
        "progress": round(task.progress, 2),
        "eta_seconds": None if task.eta_seconds is None else round(task.eta_seconds),
        "title": task.title,
        "source": task.source,
        "error": task.error,
        "created_at": _time(task.created_at),
        "finished_at": _time(task.finished_at),
        "urls": task_urls(task),
    }


def _event_counts(task: ProcessingTask) -> dict[str, Any]:
    """What the events announced so far: chunks, transcript intervals, ideas, pieces. A piece of work announced
    twice (the first transcript interval may come in two parts) counts once."""
    by_type = task.events.counts()

    def distinct(kind: str) -> int:
        return len(task.events.of(kind).indexes()) if by_type.get(kind) else 0

    return {
        "chunks": distinct(ProgressUpdate.Type.CHUNK_READY),
        "transcript_intervals": distinct(ProgressUpdate.Type.TRANSCRIPT_READY),
        "ideas": by_type.get("idea_ready", 0),
        "pieces": by_type.get("piece_ready", 0),
        "events": task.last_seq,
    }


def task_detail(task: ProcessingTask) -> dict[str, Any]:
    return {
        **task_summary(task),
        "kind": task.kind,
        "started_at": _time(task.started_at),
        "cancel_requested": task.cancel_requested,
        "params": task.params,
        "result": task.result,
        "last_seq": task.last_seq,
        "counts": _event_counts(task),
        # The content ideas and their pieces as they stand now ("files" relative to the task's folder, "urls"
        # and a reel's "poster" as URLs, "score" for the badge).
        "ideas": [piece_data(task, idea) for idea in task.ideas.order_by("index")],
    }


def _owned(request: HttpRequest, task_id: str) -> ProcessingTask | None:
    pk = parse_task_id(task_id)
    if pk is None:
        return None
    return ProcessingTask.objects.for_user(request.user).filter(pk=pk).first()


def _invalid(form: forms.Form) -> JsonResponse:
    return error(options.first_error(form), 400, errors=options.field_errors(form))


@api_view(("POST",))
def create(request: AuthenticatedRequest) -> JsonResponse:
    """A multipart body with `file` (and options) is an upload; otherwise `youtube_url` (JSON or form fields)."""
    if request.content_type == "multipart/form-data" and (request.FILES or getattr(request, "upload_too_large", False)):
        if getattr(request, "upload_too_large", False):
            return error(f"The file is too large; the limit is {human_size(settings.MAX_UPLOAD_BYTES)}.", 413)
        form = options.upload_form(request)
        if not form.is_valid():
            return _invalid(form)
        upload = form.cleaned_data["file"]
        submitted = timezone.now()
        task = services.submit_upload(
            owner=request.user,
            uploaded_path=Path(upload.temporary_file_path()),
            filename=upload.name,
            size=upload.size,
            params=form.job_params(),
            subtitles=form.cleaned_data.get("subtitles"),
        )
        # The same file with the same options, done before, comes back instead of a new task.
        reused = task.created_at < submitted
    else:
        try:
            data = options.request_data(request)
        except options.BadRequest as exc:
            return error(exc.message, 400)
        if not any(data.get(k) for k in ("youtube_url", "url", "video_url")):
            return error(
                "Send a video: a multipart body with a `file` field, or a `youtube_url` (JSON or form field).",
                400,
                errors={"youtube_url": ["Paste a YouTube video link, or upload a file instead."]},
            )
        link = options.youtube_form(data)
        if not link.is_valid():
            return _invalid(link)
        task, reused = services.submit_youtube(owner=request.user, params=link.job_params())
    return JsonResponse(
        {"task_id": str(task.pk), "status": task.status, "reused": reused, "urls": task_urls(task)},
        status=200 if reused else 202,
    )


@api_view(("GET", "HEAD"))
def task(request: AuthenticatedRequest, task_id: str) -> JsonResponse:
    task = _owned(request, task_id)
    if task is None:
        return not_found()
    return JsonResponse(task_detail(task))


@api_view(("GET", "HEAD"))
def events(request: AuthenticatedRequest, task_id: str) -> JsonResponse:
    """The events after `?after=<seq>` (at most `?limit=`, 500), in the WebSocket's JSON."""
    task = _owned(request, task_id)
    if task is None:
        return not_found()
    try:
        after = max(0, int(request.GET.get("after") or 0))
        limit = min(max(int(request.GET.get("limit") or MAX_EVENTS), 1), MAX_EVENTS)
    except ValueError:
        return error("`after` and `limit` must be whole numbers.", 400)
    rows = list(task.events.after(after)[: limit + 1])
    more = len(rows) > limit
    listed = [row.as_event() for row in rows[:limit]]
    return JsonResponse(
        {
            "task_id": str(task.pk),
            "status": task.status,
            "events": listed,
            "last_seq": listed[-1]["seq"] if listed else after,
            "more": more,
        }
    )


@api_view(("POST",))
def cancel(request: AuthenticatedRequest, task_id: str) -> JsonResponse:
    task = _owned(request, task_id)
    if task is None:
        return not_found()
    if task.is_finished:
        return error(
            f"This task has already finished ({task.status}); there is nothing to cancel.", 409, status=task.status
        )
    accepted = services.request_cancel(task=task)
    task.refresh_from_db()
    if not accepted:
        return error(
            f"This task has already finished ({task.status}); there is nothing to cancel.", 409, status=task.status
        )
    message = "Cancelled." if task.is_finished else "Cancel requested; the task stops within a second or two."
    return JsonResponse(
        {"task_id": str(task.pk), "cancel_requested": True, "status": task.status, "message": message}, status=202
    )


@api_view(("GET", "HEAD"))
def task_list(request: AuthenticatedRequest) -> JsonResponse:
    """The caller's tasks, newest first (`?limit=&offset=`, optional `?status=`), with the queue's size."""
    try:
        limit = min(max(int(request.GET.get("limit") or DEFAULT_PAGE), 1), MAX_PAGE)
        offset = max(int(request.GET.get("offset") or 0), 0)
    except ValueError:
        return error("`limit` and `offset` must be whole numbers.", 400)
    mine = ProcessingTask.objects.for_user(request.user)
    status = request.GET.get("status")
    if status:
        if status not in ProcessingTask.Status.values:
            return error(f"`status` must be one of: {', '.join(ProcessingTask.Status.values)}.", 400)
        listed = mine.filter(status=status)
    else:
        listed = mine
    total = listed.count()
    page = list(listed.order_by("-created_at")[offset : offset + limit])
    counts = dict(mine.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    system = dict(
        ProcessingTask.objects.filter(status__in=(ProcessingTask.Status.QUEUED, ProcessingTask.Status.RUNNING))
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    next_url = None
    if offset + limit < total:
        next_url = f"{reverse('api-tasks')}?limit={limit}&offset={offset + limit}" + (
            f"&status={status}" if status else ""
        )
    return JsonResponse(
        {
            "tasks": [task_summary(t) for t in page],
            "count": total,
            "limit": limit,
            "offset": offset,
            "next": next_url,
            # Whole-system counts (the seed's "queue size"): how much work is ahead of a new task.
            "queue": {"queued": system.get("queued", 0), "running": system.get("running", 0)},
            "mine": {s: counts.get(s, 0) for s in ProcessingTask.Status.values},
        }
    )
