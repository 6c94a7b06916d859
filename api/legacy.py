"""Thin adapters that let clients written for the earlier systems (see the seeds) talk to Repurposer.

They start tasks through the same forms and services as the pages, and stream OUR ProgressUpdate rows
(see api.sse) re-shaped into what those clients parse:

- POST /process-video-stream/          seed 000: `data: {task_id, status, progress, message, timestamp, …}`
- GET  /analyze-stream/<task id>        seed 001: `event: status|chunk_ready|complete|error` + `data: {type, …}`
- POST /cancel-task/<task id>           seed 000: {"message": "Task cancelled successfully"} or 404 {"detail": …}

Every event carries `id: <seq>`; a client that reconnects with Last-Event-ID gets exactly the later events.
Same authentication and owner checks as the JSON API; another user's task is a 404.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from jobs import quotas, services
from jobs.models import ProcessingTask

from . import options, sse
from .auth import api_view, authenticate, error, not_found, parse_task_id

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

SERVER_ERROR = "Something went wrong on our side. The operators have the details; try again."
CANCEL_NOT_FOUND = "Task not found or already completed"


def _timestamp(event: dict) -> float:
    return round(datetime.fromisoformat(event["ts"]).timestamp(), 3)


def _clock(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# --- seed 000: POST /process-video-stream/ -----------------------------------------------------------------

# Our event type → the seed's `status` (stage and progress events use the stage's name, as the seed did).
PROCESS_VIDEO_STREAM_STATUS = {"idea_ready": "idea", "piece_ready": "piece"}


def _process_video_stream_result(task: ProcessingTask, data: dict) -> dict:
    """The seed's final response (video id, title, transcript, ideas, content pieces) from our rows."""
    video_id = task.options.video_id or None
    urls = {"watch_url": reverse("watch", args=[task.pk])}
    if task.result.get("final"):
        urls["final_video"] = reverse("task-media", args=[task.pk, task.result["final"]])
    return {
        **data,
        "id": str(task.pk),
        "youtube_video_id": video_id,
        "title": task.title,
        "status": "completed",
        "thumbnail_url": f"https://img.youtube.com/vi/{video_id}/maxresdefault.jpg" if video_id else None,
        "transcript": " ".join(seg.text for seg in task.transcript()),
        "ideas": task.announced_ideas(),
        "content_pieces": task.announced_pieces(),
        **urls,
    }


def render_process_video_stream(event: dict, task: ProcessingTask) -> str:
    kind = event["type"]
    if kind in ("stage", "progress"):
        status, family = event["stage"] or "progress", "progress"
    else:
        status = family = PROCESS_VIDEO_STREAM_STATUS.get(kind, kind)
    body: dict[str, Any] = {
        "task_id": event["task"],
        "status": status,
        "event": family,
        "progress": event["progress"],
        "message": event["message"],
        "timestamp": _timestamp(event),
        "seq": event["seq"],
        "stage": event["stage"],
    }
    if event["eta_s"] is not None:
        body["estimated_remaining"] = event["eta_s"]
    data = _process_video_stream_result(task, event["data"]) if kind == "complete" else event["data"]
    if data:
        body["data"] = data
    return sse.frame(body, seq=event["seq"])


def _start_process_video_stream(request: HttpRequest) -> tuple[HttpResponse | None, Any, int]:
    """Authenticate and start (or, with `task_id` in the body, resume) a task. Runs in a worker thread."""
    try:
        refused = authenticate(request)
        if refused is not None:
            return refused, None, 0
        try:
            body = options.request_data(request)
        except options.BadRequest as exc:
            return error(exc.message, 400), None, 0
        if body.get("task_id"):
            # A client resuming a stream it lost: no new task, the events after Last-Event-ID.
            pk = parse_task_id(body["task_id"])
            task = ProcessingTask.objects.for_user(request.user).filter(pk=pk).first() if pk else None
            if task is None:
                return not_found(), None, 0
            after = sse.last_event_id(request)
            if task.is_finished and after >= task.last_seq:
                return sse.nothing_more(), None, 0
            return None, task.pk, after
        form = options.legacy_process_form(dict(body.items()))
        if not form.is_valid():
            return error(options.first_error(form), 400, errors=options.field_errors(form)), None, 0
        # authenticate() above has set a real user (or refused the request).
        try:
            task, _ = services.submit_youtube(owner=cast("User", request.user), params=form.job_params())
        except quotas.LimitReached as exc:
            return error(exc.message, 429), None, 0
        return None, task.pk, 0
    except Exception:
        log.exception("starting a legacy stream failed")
        return error(SERVER_ERROR, 500), None, 0
    finally:
        connection.close()


@csrf_exempt  # checked in authenticate() for session callers
async def process_video_stream(request: HttpRequest) -> HttpResponseBase:
    """seed 000: start processing a YouTube video and stream its progress as `data: {...}` lines."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    refused, task_id, after = await sync_to_async(_start_process_video_stream, thread_sensitive=False)(request)
    if refused is not None:
        return refused
    return sse.response(sse.follow(task_id, after=after, render=render_process_video_stream))


# --- seed 001: GET /analyze-stream/<upload> ----------------------------------------------------------------


def render_analyze_stream(event: dict, task: ProcessingTask, *, plain: bool = False) -> str:
    kind, data = event["type"], event["data"]
    common = {"seq": event["seq"], "task_id": event["task"], "progress": event["progress"], "message": event["message"]}
    if kind == "chunk_ready":
        name = "chunk_ready"
        body = {
            **data,
            "type": name,
            **common,
            "start_time": _clock(data.get("start")),
            "end_time": _clock(data.get("end")),
        }
    elif kind == "complete":
        name = "complete"
        body = {**data, "type": name, **common, "chunks": data.get("chunks", 0), "final_video": data.get("final_url")}
    elif kind in ("error", "cancelled"):
        # The seed knew no "cancelled": its clients stop on `error`, so a cancel is an error that says so.
        name = "error"
        body = {"type": name, **common, "cancelled": kind == "cancelled"}
    else:
        name = "status"
        body = {"type": name, **common, "stage": event["stage"], "event": kind}
        if event["eta_s"] is not None:
            body["eta_s"] = event["eta_s"]
    return sse.frame(body, seq=event["seq"], event=None if plain else name)


def _open_analyze_stream(request: HttpRequest, task_id: str) -> tuple[HttpResponse | None, Any, int]:
    try:
        refused = authenticate(request)
        if refused is not None:
            return refused, None, 0
        pk = parse_task_id(task_id)
        task = ProcessingTask.objects.for_user(request.user).filter(pk=pk).first() if pk else None
        if task is None:
            return not_found(), None, 0
        after = sse.last_event_id(request)
        if task.is_finished and after >= task.last_seq:
            return sse.nothing_more(), None, 0
        return None, task.pk, after
    except Exception:
        log.exception("opening a legacy stream failed")
        return error(SERVER_ERROR, 500), None, 0
    finally:
        connection.close()


async def analyze_stream(request: HttpRequest, task_id: str) -> HttpResponseBase:
    """seed 001: the events of one of the caller's tasks (its id is OUR task id) as named SSE events.

    `?plain=1` leaves out the `event:` lines, for clients that listen with EventSource.onmessage only."""
    if request.method != "GET":
        return _method_not_allowed("GET")
    refused, pk, after = await sync_to_async(_open_analyze_stream, thread_sensitive=False)(request, task_id)
    if refused is not None:
        return refused
    plain = request.GET.get("plain", "").lower() in ("1", "true", "yes")
    return sse.response(sse.follow(pk, after=after, render=functools.partial(render_analyze_stream, plain=plain)))


# --- seed 000: POST /cancel-task/<id> ------------------------------------------------------------------------


@api_view(("POST",))
def cancel_task(request: HttpRequest, task_id: str) -> JsonResponse:
    pk = parse_task_id(task_id)
    task = ProcessingTask.objects.for_user(request.user).filter(pk=pk).first() if pk else None
    if task is None or task.is_finished or not services.request_cancel(task=task):
        return JsonResponse({"detail": CANCEL_NOT_FOUND, "error": f"{CANCEL_NOT_FOUND}."}, status=404)
    task.refresh_from_db()
    return JsonResponse({"message": "Task cancelled successfully", "task_id": str(task.pk), "status": task.status})


def _method_not_allowed(method: str) -> JsonResponse:
    response = error(f"Use {method} here.", 405)
    response["Allow"] = method
    return response
