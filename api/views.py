"""The JSON API for scripts: create a task, read it and its events, cancel it, list tasks.

Views fetch with permission (another user's task is a 404, like a missing one), bind the pages' own forms,
call the same services as the pages, and answer JSON: errors are sentences under "error".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.urls import reverse
from django.utils import timezone

from jobs import quotas, services, webhooks
from jobs.ideas import piece_data
from jobs.models import Batch, ProcessingTask, ProgressUpdate, WebhookSecret
from media_pipeline.errors import MediaError
from media_pipeline.ingest.youtube import list_videos
from media_pipeline.ingest.youtube_url import collection_url, watch_url
from repurposer.forms import UploadStartForm, human_size
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
    if task.source_path or task.source == ProcessingTask.Source.UPLOAD or task.kind == ProcessingTask.Kind.GENERATE:
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
        # The publishing kit (chapters, titles and description, thumbnails) as announced so far (jobs/kit.py).
        "kit": task.kit(),
    }


def _owned(request: HttpRequest, task_id: str) -> ProcessingTask | None:
    pk = parse_task_id(task_id)
    if pk is None:
        return None
    return ProcessingTask.objects.for_user(request.user).filter(pk=pk).first()


def _invalid(form: forms.Form) -> JsonResponse:
    return error(options.first_error(form), 400, errors=options.field_errors(form))


class WebhookRefused(Exception):
    def __init__(self, response: JsonResponse) -> None:
        super().__init__("webhook refused")
        self.response = response


def webhook_url(data: QueryDict | dict[str, Any]) -> str:
    """The `webhook_url` the caller sent, checked (jobs/webhooks.py: http(s), no credentials, a public host),
    or ""; WebhookRefused with the 400 answer saying why not."""
    value = data.get("webhook_url")
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        message = "The webhook URL must be text, like https://example.com/hooks/repurposer."
        raise WebhookRefused(error(message, 400, errors={"webhook_url": [message]}))
    try:
        return webhooks.check_url(value)
    except webhooks.Refused as exc:
        raise WebhookRefused(error(exc.message, 400, errors={"webhook_url": [exc.message]})) from None


def with_secret(request: AuthenticatedRequest, body: dict[str, Any], url: str) -> dict[str, Any]:
    """The answer, with the caller's new signing secret when this webhook is their first (shown this once)."""
    if url:
        secret = webhooks.secret_on_first_need(request.user)
        if secret:
            body["webhook_secret"] = secret
    return body


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
        try:
            hook = webhook_url(request.POST)
        except WebhookRefused as exc:
            return exc.response
        try:
            task = services.submit_upload(
                owner=request.user,
                uploaded_path=Path(upload.temporary_file_path()),
                filename=upload.name,
                size=upload.size,
                params=form.job_params(),
                subtitles=form.cleaned_data.get("subtitles"),
                webhook_url=hook,
            )
        except quotas.LimitReached as exc:
            return error(exc.message, 429)
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
        try:
            hook = webhook_url(data)
            task, reused = services.submit_youtube(owner=request.user, params=link.job_params(), webhook_url=hook)
        except WebhookRefused as exc:
            return exc.response
        except quotas.LimitReached as exc:
            return error(exc.message, 429)
    # A re-used result is an earlier task: it carries that submission's webhook (if any), not this one's.
    body = {"task_id": str(task.pk), "status": task.status, "reused": reused, "urls": task_urls(task)}
    return JsonResponse(with_secret(request, body, "" if reused else hook), status=200 if reused else 202)


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


@api_view(("POST",))
def kit_image(request: AuthenticatedRequest, task_id: str) -> JsonResponse:
    """Make one kit image again: JSON {"kind": "thumb"|"square"|"vertical", "slot": n, "change": "frame"|"title"}.
    202 when queued; the new image arrives as a thumbnail_ready event."""
    task = _owned(request, task_id)
    if task is None:
        return not_found()
    try:
        data = options.request_data(request)
        kind, slot, change = str(data.get("kind", "")), int(data.get("slot", 0)), str(data.get("change", ""))
    except options.BadRequest as exc:
        return error(exc.message, 400)
    except (TypeError, ValueError):
        return error("`slot` must be a whole number.", 400)
    refused = services.request_kit_image(task=task, kind=kind, slot=slot, change=change)
    if refused:
        return error(refused, 409 if "still being made" in refused else 400)
    return JsonResponse(
        {"task_id": str(task.pk), "queued": True, "kind": kind, "slot": slot, "change": change}, status=202
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


# --- batches ---------------------------------------------------------------------------------------------

BATCH_FIELDS = ("sources", "title", "webhook_url")


def _batch_source(request: AuthenticatedRequest, source: object, shared: dict[str, Any]) -> services.BatchSource:
    """One source checked on its own: an id of the caller's upload, or a YouTube link with the shared options."""
    text = str(source).strip() if isinstance(source, str | int) else ""
    if not text:
        return services.BatchSource(
            source=str(source)[:200], error="Each source must be a YouTube link or an upload's id."
        )
    pk = parse_task_id(text)
    if pk is not None:
        upload = (
            ProcessingTask.objects.for_user(request.user).filter(pk=pk, source=ProcessingTask.Source.UPLOAD).first()
        )
        if upload is None:
            return services.BatchSource(source=text, error="There is no upload of yours with this id.")
        if upload.status == ProcessingTask.Status.UPLOADING:
            return services.BatchSource(
                source=text, error="This upload has not finished; send its last part, then add it to a batch."
            )
        form = options.bind(UploadStartForm, {**shared, "filename": upload.title or "video", "size": 1})
        if not form.is_valid():
            return services.BatchSource(source=text, error=options.first_error(form))
        return services.BatchSource(source=text, upload=upload, params=form.job_params())
    link = options.youtube_form({**shared, "url": text})
    if not link.is_valid():
        return services.BatchSource(source=text, error=options.first_error(link))
    return services.BatchSource(source=text, params=link.job_params())


def _expand(request: AuthenticatedRequest, source: object, shared: dict[str, Any]) -> list[services.BatchSource]:
    """A playlist or channel link becomes its videos (yt-dlp flat extraction, at most PLAYLIST_MAX_VIDEOS;
    past that, or when listing fails, the link fails alone with its sentence); any other source is itself.
    The listing is one or two requests to YouTube, made here so the answer can name every video."""
    collection = collection_url(source) if isinstance(source, str) else None
    if collection is None:
        return [_batch_source(request, source, shared)]
    try:
        ids = list_videos(
            settings.YOUTUBE_LIST_URL.format(url=quote(collection, safe="")),
            limit=settings.PLAYLIST_MAX_VIDEOS,
            proxy=settings.YOUTUBE_PROXY or None,
            extractors=settings.YOUTUBE_EXTRACTORS,
        )
    except MediaError as exc:
        return [services.BatchSource(source=str(source), error=exc.message)]
    return [_batch_source(request, watch_url(video_id), shared) for video_id in ids]


class BatchRefused(Exception):
    """Nothing of the batch can be queued: too many videos, or every source failed (`sources` says why each)."""

    def __init__(self, message: str, sources: list[services.BatchSource] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sources = sources or []


def check_sources(request: AuthenticatedRequest, sources: list, shared: dict[str, Any]) -> list[services.BatchSource]:
    """Every source checked on its own, playlists expanded; what `POST /api/batch` and the page's batch form
    give services.submit_batch. BatchRefused when the batch is too big or no source can be queued."""
    checked = [src for source in sources[: settings.BATCH_MAX_SOURCES + 1] for src in _expand(request, source, shared)]
    if len(checked) > settings.BATCH_MAX_SOURCES:
        raise BatchRefused(
            f"A batch may hold at most {settings.BATCH_MAX_SOURCES} videos; this one has more. "
            "Split it into several batches."
        )
    if all(src.error for src in checked):
        raise BatchRefused("None of the sources could be queued.", checked)
    return checked


def batch_detail(batch: Batch) -> dict[str, Any]:
    items = list(batch.items.select_related("task"))
    return {
        "batch_id": str(batch.pk),
        "title": batch.title,
        "created_at": _time(batch.created_at),
        "summary": batch.summary(),
        "tasks": [
            {
                "position": item.position,
                "source": item.source,
                "reused": item.reused,
                "error": item.error,
                **({"task": task_summary(item.task)} if item.task else {"task": None}),
            }
            for item in items
        ],
        "urls": {"batch": reverse("api-batch", args=[batch.pk])},
    }


@api_view(("POST",))
def batch_create(request: AuthenticatedRequest) -> JsonResponse:
    """`{"sources": [link or upload id, …], "title": …, …options}` → 202 with a task (or a sentence) per source."""
    try:
        data = options.request_data(request)
    except options.BadRequest as exc:
        return error(exc.message, 400)
    sources = data.get("sources")
    if isinstance(data, QueryDict):
        sources = [line for text in data.getlist("sources") for line in text.splitlines() if line.strip()]
    if not isinstance(sources, list) or not sources:
        return error('Send the videos as "sources": a list of YouTube links or upload ids.', 400)
    try:
        hook = webhook_url(data)
    except WebhookRefused as exc:
        return exc.response
    shared = {k: v for k, v in dict(data.items()).items() if k not in BATCH_FIELDS}
    try:
        checked = check_sources(request, sources, shared)
    except BatchRefused as exc:
        if not exc.sources:
            return error(exc.message, 400)
        return error(exc.message, 400, sources=[{"source": src.source, "error": src.error} for src in exc.sources])
    batch = services.submit_batch(
        owner=request.user, sources=checked, params=shared, title=str(data.get("title") or ""), webhook_url=hook
    )
    return JsonResponse(with_secret(request, batch_detail(batch), hook), status=202)


@api_view(("GET", "HEAD"))
def batch(request: AuthenticatedRequest, batch_id: str) -> JsonResponse:
    pk = parse_task_id(batch_id)
    found = Batch.objects.for_user(request.user).filter(pk=pk).first() if pk else None
    if found is None:
        return not_found()
    return JsonResponse(batch_detail(found))


@api_view(("GET", "HEAD"))
def batch_list(request: AuthenticatedRequest) -> JsonResponse:
    """The caller's batches, newest first (`?limit=&offset=`), each with its summary."""
    try:
        limit = min(max(int(request.GET.get("limit") or DEFAULT_PAGE), 1), MAX_PAGE)
        offset = max(int(request.GET.get("offset") or 0), 0)
    except ValueError:
        return error("`limit` and `offset` must be whole numbers.", 400)
    mine = Batch.objects.for_user(request.user)
    page = list(mine.order_by("-created_at")[offset : offset + limit])
    return JsonResponse(
        {
            "batches": [
                {
                    "batch_id": str(b.pk),
                    "title": b.title,
                    "created_at": _time(b.created_at),
                    "summary": b.summary(),
                    "urls": {"batch": reverse("api-batch", args=[b.pk])},
                }
                for b in page
            ],
            "count": mine.count(),
            "limit": limit,
            "offset": offset,
        }
    )


# --- part-by-part uploads with a token: the page's protocol (see the README), at /api/uploads ----------------


@api_view(("POST",))
def upload_start(request: AuthenticatedRequest) -> HttpResponse:
    from repurposer.views import start_part_upload

    return start_part_upload(
        request, part_url="api-upload-part", answer=lambda body, hook: with_secret(request, body, hook)
    )


@api_view(("GET", "PUT"))
def upload_part(request: AuthenticatedRequest, task_id: str) -> HttpResponse:
    from repurposer.views import receive_part

    pk = parse_task_id(task_id)
    if pk is None:
        return not_found()
    return receive_part(request, pk)


# --- the webhook signing secret --------------------------------------------------------------------------


@api_view(("GET", "HEAD", "POST"))
def webhook_secret(request: AuthenticatedRequest) -> JsonResponse:
    """GET: whether the caller has a signing secret, and since when (never the secret itself). POST: a new one,
    shown in this answer only; the old one stops working at once (deliveries still to be attempted are signed
    with the new one)."""
    if request.method == "POST":
        secret = webhooks.new_secret(request.user)
        return JsonResponse(
            {"secret": secret, "header": webhooks.SIGNATURE_HEADER, "timestamp_header": webhooks.TIMESTAMP_HEADER},
            status=201,
        )
    row = WebhookSecret.objects.filter(owner_id=request.user.pk).only("created_at").first()
    return JsonResponse({"exists": row is not None, "created_at": _time(row.created_at) if row else None})
