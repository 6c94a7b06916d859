"""The web UI: upload, watch, task list, sign-up. Views fetch with permission, bind a form, call a service."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import quotas, services
from jobs.models import Idea, PerformanceMetrics, ProcessingTask
from jobs.pipeline import stages_for
from media_pipeline.errors import DiskFull

from .forms import JobOptionsForm, SignupForm, UploadForm, UploadStartForm, YouTubeForm, human_size
from .http import AuthenticatedRequest

log = logging.getLogger(__name__)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _disk_full(detail: str = "") -> JsonResponse:
    """507 Insufficient Storage: the server's disk is full, which the uploader cannot fix (nothing was kept)."""
    if detail:
        log.error("disk full while receiving an upload: %s", detail)
    return JsonResponse({"error": DiskFull.MESSAGE}, status=507)


def announce_webhook_secret(request: AuthenticatedRequest, url: str) -> None:
    """A page's first webhook makes the user's signing secret: it is said once, on the next page they see."""
    from jobs import webhooks

    secret = webhooks.secret_on_first_need(request.user) if url.strip() else None
    if secret:
        messages.info(
            request,
            f"Your webhook signing secret is {secret} — keep it now, it is not shown again "
            "(a new one can be made with POST /api/webhook-secret).",
        )


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("upload")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def upload(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if getattr(request, "disk_full", False):  # set by the upload handler, which deleted the temp file
            return _disk_full("FILE_UPLOAD_TEMP_DIR is full")
        if getattr(request, "upload_too_large", False):
            form.errors.clear()
            form.add_error(None, f"The file is too large; the limit is {human_size(settings.MAX_UPLOAD_BYTES)}.")
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                task = services.submit_upload(
                    owner=request.user,
                    uploaded_path=Path(upload.temporary_file_path()),
                    filename=upload.name,
                    size=upload.size,
                    params=form.job_params(),
                    subtitles=form.cleaned_data.get("subtitles"),
                    webhook_url=form.cleaned_data["webhook_url"],
                )
            except quotas.LimitReached as exc:
                if _wants_json(request):
                    return JsonResponse({"errors": [exc.message]}, status=429)
                form.add_error(None, exc.message)
                return _upload_page(request, form, YouTubeForm(auto_id="yt_%s"))
            url = reverse("watch", args=[task.pk])
            announce_webhook_secret(request, form.cleaned_data["webhook_url"])
            if _wants_json(request):
                return JsonResponse({"task_id": str(task.pk), "status": task.status, "url": url}, status=201)
            return redirect(url)
        if _wants_json(request):
            return JsonResponse({"errors": _form_errors(form)}, status=400)
    else:
        form = UploadForm()
    return _upload_page(request, form, YouTubeForm(auto_id="yt_%s"))


def _settings_groups(primary: JobOptionsForm, other: JobOptionsForm) -> list[tuple[str, list, bool]]:
    """The upload page's one Settings box, shared by the file and the link: the options of `primary` (the form
    the page comes back with, so its values and errors stay) in its groups, then those only `other` has. A
    field added to either form shows up here without a template edit; the file and the link have their own
    boxes."""
    own = {"file", "url"}
    groups = [(legend, [f for f in fields if f.name not in own], shown) for legend, fields, shown in primary.groups()]
    extra = [other[name] for name in other.fields if name not in primary.fields and name not in own]
    legend, fields, shown = groups[0]
    groups[0] = (legend, fields + extra, shown)
    return [g for g in groups if g[1]]


def _upload_page(
    request: HttpRequest, form: UploadForm, youtube_form: YouTubeForm, *, sources: str = ""
) -> HttpResponse:
    primary, other = (youtube_form, form) if youtube_form.is_bound else (form, youtube_form)
    return render(
        request,
        "tasks/upload.html",
        {
            "form": form,
            "youtube_form": youtube_form,
            "settings_groups": _settings_groups(primary, other),
            "settings_open": primary.is_bound
            and any(primary[n].errors for n in primary.fields if n not in ("file", "url")),
            "max_upload": human_size(settings.MAX_UPLOAD_BYTES),
            "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
            "upload_start_url": reverse("upload-start"),
            "list_url": reverse("task-list"),
            "batch_url": reverse("batch-new"),
            "sources": sources,
        },
    )


def _form_errors(form: forms.Form) -> list[str]:
    return [str(e) for errs in form.errors.values() for e in errs]


@login_required
@require_POST
def upload_start(request: AuthenticatedRequest) -> HttpResponse:
    """Open a part-by-part upload (what upload.js uses); the parts then go to `upload_part`."""
    response = start_part_upload(request, part_url="upload-part")
    if response.status_code == 201:
        announce_webhook_secret(request, request.POST.get("webhook_url", ""))
    return response


def start_part_upload(
    request: AuthenticatedRequest,
    *,
    part_url: str,
    answer: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
) -> HttpResponse:
    """The body of `upload_start`, shared with the API's token-authenticated twin (api.views), whose `answer`
    adds to the body what the API says of the webhook URL (the signing secret, the first time)."""
    form = UploadStartForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse({"errors": _form_errors(form)}, status=400)
    try:
        task = services.start_upload(
            owner=request.user,
            filename=form.cleaned_data["filename"],
            size=form.cleaned_data["size"],
            params=form.job_params(),
            subtitles=form.cleaned_data.get("subtitles"),
            webhook_url=form.cleaned_data.get("webhook_url") or "",
        )
    except quotas.LimitReached as exc:
        return JsonResponse({"errors": [exc.message]}, status=429)
    body: dict[str, Any] = {
        "task_id": str(task.pk),
        "upload_url": reverse(part_url, args=[task.pk]),
        "watch_url": reverse("watch", args=[task.pk]),
        "part_bytes": settings.UPLOAD_PART_BYTES,
        "offset": 0,
    }
    if answer is not None:
        body = answer(body, task.webhook_url)
    return JsonResponse(body, status=201)


CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@login_required
@require_http_methods(["GET", "PUT"])
def upload_part(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    """GET: how far the upload got (to resume). PUT: the next part, as a raw body with Content-Range."""
    return receive_part(request, task_id)


def receive_part(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    """The body of `upload_part`, shared with the API's twin."""
    task = get_object_or_404(ProcessingTask.objects.for_user(request.user), pk=task_id)
    if request.method == "GET":
        return JsonResponse({"offset": services.upload_offset(task), "total": task.source_size, "status": task.status})
    match = CONTENT_RANGE_RE.match(request.headers.get("Content-Range", ""))
    if not match:
        return JsonResponse(
            {"errors": ["Send each part with a header like 'Content-Range: bytes 0-999/5000'."]}, status=400
        )
    start, end, total = (int(g) for g in match.groups())
    length = int(request.headers.get("Content-Length") or -1)
    if end < start or length != end - start + 1:
        return JsonResponse({"errors": ["Content-Range does not match the size of the part."]}, status=400)
    if length > 2 * settings.UPLOAD_PART_BYTES:
        return JsonResponse(
            {"errors": [f"Parts may be at most {human_size(2 * settings.UPLOAD_PART_BYTES)}."]}, status=413
        )
    try:
        offset, earlier = services.receive_upload_part(
            task=task, start=start, total=total, chunks=iter(lambda: request.read(256 * 1024), b"")
        )
    except services.UploadConflict as exc:
        return JsonResponse({"errors": [exc.message], "offset": exc.offset}, status=409)
    except DiskFull as exc:
        return _disk_full(exc.detail)
    complete = offset >= task.source_size
    shown = earlier or task  # the same file done before: its result is offered instead
    body = {"offset": offset, "complete": complete, "watch_url": reverse("watch", args=[shown.pk])}
    if earlier is not None:
        body["same_as"] = str(earlier.pk)
    return JsonResponse(body)


@login_required
@require_POST
def submit_youtube(request: AuthenticatedRequest) -> HttpResponse:
    form = YouTubeForm(request.POST, auto_id="yt_%s")
    if form.is_valid():
        try:
            hook = form.cleaned_data["webhook_url"]
            task, reused = services.submit_youtube(owner=request.user, params=form.job_params(), webhook_url=hook)
        except quotas.LimitReached as exc:
            if _wants_json(request):
                return JsonResponse({"errors": [exc.message]}, status=429)
            form.add_error(None, exc.message)
            return _upload_page(request, UploadForm(), form)
        url = reverse("watch", args=[task.pk])
        if not reused:  # a re-used result keeps its own submission's webhook
            announce_webhook_secret(request, hook)
        if reused:
            messages.info(
                request, "This video was processed before; here is that result. Tick “Process it again” to redo it."
            )
        if _wants_json(request):
            return JsonResponse({"task_id": str(task.pk), "status": task.status, "url": url}, status=201)
        return redirect(url)
    if _wants_json(request):
        return JsonResponse({"errors": _form_errors(form)}, status=400)
    return _upload_page(request, UploadForm(), form)


def _stages(task: ProcessingTask) -> list[tuple[str, str, int]]:
    if task.kind == ProcessingTask.Kind.GENERATE:
        from jobs.generate import STAGES

        return STAGES
    return stages_for(task)


@login_required
def watch(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    task = get_object_or_404(ProcessingTask.objects.for_user(request.user), pk=task_id)
    if task.media_deleted_at is not None:
        transcript = {fmt: reverse("transcript", args=[str(task.pk), fmt]) for fmt in ("srt", "vtt", "txt")}
        return render(request, "tasks/purged.html", {"task": task, "transcript": transcript})
    config = {
        "task": str(task.pk),
        "ws": f"/ws/tasks/{task.pk}/",
        "playlist": reverse("playlist", args=[task.pk]),
        "cancel": reverse("cancel", args=[task.pk]),
        "final": task.media_url(task.files.FINAL) + "?download=1",
        "stages": [{"name": name, "label": label} for name, label, _ in _stages(task)],
        "transcript": {fmt: reverse("transcript", args=[str(task.pk), fmt]) for fmt in ("srt", "vtt", "txt")},
        "commentary_vtt": reverse("commentary", args=[task.pk]),
        "export": {fmt: reverse("export", args=[str(task.pk), fmt]) for fmt in ("json", "md", "zip")},
        "regenerate": reverse("regenerate-piece", args=[task.pk, 0]).replace("/0/", "/{index}/"),
        "status": task.status,
        # The source's length once probed, so the score timeline is to scale while intervals still arrive.
        "duration": (task.result or {}).get("media", {}).get("duration"),
        "commentary": task.options.commentary,
        "ideas": task.options.ideas,
    }
    return render(request, "tasks/watch.html", {"task": task, "config": config})


@login_required
@require_POST
def regenerate_piece(request: AuthenticatedRequest, task_id: uuid.UUID, index: int) -> HttpResponse:
    idea = get_object_or_404(Idea.objects.for_user(request.user), task_id=task_id, index=index)
    accepted = services.request_regenerate(idea=idea)
    if _wants_json(request):
        message = "" if accepted else "This piece is still being made; try again when it is done."
        return JsonResponse({"regenerating": accepted, "message": message}, status=202 if accepted else 409)
    return redirect("watch", task_id=task_id)


@staff_member_required
@require_GET
def performance_metrics(request: HttpRequest) -> JsonResponse:
    """Real numbers from PerformanceMetrics over the last `hours` (default 24): per operation."""
    try:
        hours = min(max(int(request.GET.get("hours") or 24), 1), 24 * 30)
    except ValueError:
        return JsonResponse({"errors": ["hours must be a whole number."]}, status=400)
    since = timezone.now() - timedelta(hours=hours)
    by_op: dict[str, list[tuple[float, bool]]] = {}
    for op, ms, ok in PerformanceMetrics.objects.filter(created_at__gte=since).values_list(
        "operation", "duration_ms", "success"
    ):
        by_op.setdefault(op, []).append((ms, ok))
    operations = {}
    for op, rows in sorted(by_op.items()):
        durations = sorted(ms for ms, _ in rows)
        operations[op] = {
            "count": len(rows),
            "success_rate": round(sum(ok for _, ok in rows) / len(rows), 4),
            "p50_ms": round(median(durations), 1),
            "p95_ms": round(durations[min(len(durations) - 1, int(0.95 * len(durations)))], 1),
            "max_ms": round(durations[-1], 1),
        }
    tasks = {
        s: ProcessingTask.objects.filter(status=s, created_at__gte=since).count() for s in ProcessingTask.Status.values
    }
    return JsonResponse({"window_hours": hours, "tasks": tasks, "operations": operations})
