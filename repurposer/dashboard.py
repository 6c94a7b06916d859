"""The "My videos" and batch pages: the user's tasks with filters, search and pages, a row per task that the
page's script keeps live over /ws/tasks/, the row's actions, and the batch form of the upload page.

Views fetch with permission, call a service, and render; the live part is static/js/dashboard.js.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from jobs import quotas, services
from jobs.models import Batch, BatchItem, ProcessingTask, ProgressUpdate
from ops.disk import DiskLow

from .forms import UploadForm, WebhookMixin, YouTubeForm
from .http import AuthenticatedRequest
from .views import _form_errors, _upload_page, _wants_json, announce_webhook_secret

PAGE_SIZE = 20


def _stage_labels() -> dict[str, str]:
    """Every stage's name → what the page calls it (the watch page's stage list says the same)."""
    from jobs.generate import STAGES as MADE
    from jobs.pipeline import STAGES

    labels = {"queued": "Waiting for a worker", "ideas": "Finish content ideas", "done": "Done"}
    for table in (*STAGES.values(), MADE):
        labels.update({name: label for name, label, _ in table})
    return labels


STAGE_LABELS = _stage_labels()


def clock(seconds: float | None) -> str:
    """A length as the player says it: 4:05, 1:02:03."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def time_left(seconds: float | None) -> str:
    """The ETA in words (dashboard.js says it the same way)."""
    if seconds is None:
        return ""
    if seconds < 20:
        return "a few seconds left"
    if seconds < 60:
        return "less than a minute left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


@dataclass
class Row:
    """What one row of "My videos" (or of a batch) shows of a task."""

    task: ProcessingTask
    batch: Batch | None

    @property
    def thumbnail(self) -> str:
        """The first chunk's picture, once it exists and while the media are kept."""
        if self.task.media_deleted_at is not None or not self.task.files.thumb(0).is_file():
            return ""
        return self.task.media_url(self.task.files.thumb_name(0))

    @property
    def duration(self) -> str:
        return clock((self.task.result or {}).get("media", {}).get("duration"))

    @property
    def stage(self) -> str:
        if self.task.is_finished or not self.task.stage:
            return ""
        return STAGE_LABELS.get(self.task.stage, self.task.stage)

    @property
    def run_time(self) -> str:
        """How long it ran (started to ended), once it has ended."""
        if self.task.started_at is None or self.task.finished_at is None:
            return ""
        return clock((self.task.finished_at - self.task.started_at).total_seconds())

    @property
    def eta(self) -> str:
        return "" if self.task.is_finished else time_left(self.task.eta_seconds)

    @property
    def percent(self) -> int:
        return 100 if self.task.status == ProcessingTask.Status.SUCCEEDED else int(self.task.progress)

    @property
    def can_cancel(self) -> bool:
        return not self.task.is_finished

    @property
    def can_reprocess(self) -> bool:
        return self.task.is_finished

    @property
    def can_delete(self) -> bool:
        return self.task.status != ProcessingTask.Status.RUNNING


def _with_batches(tasks: QuerySet[ProcessingTask]) -> QuerySet[ProcessingTask]:
    return tasks.prefetch_related(Prefetch("batch_items", queryset=BatchItem.objects.select_related("batch")))


def _row(task: ProcessingTask) -> Row:
    items = list(task.batch_items.all())
    return Row(task=task, batch=items[0].batch if items else None)


def _filters(query: QueryDict) -> dict[str, str]:
    """The filters asked for, each one known or dropped (a stale link shows everything rather than an error)."""
    out = {}
    status, kind = query.get("status", ""), query.get("kind", "")
    if status in ProcessingTask.Status.values:
        out["status"] = status
    if kind in ProcessingTask.Kind.values:
        out["kind"] = kind
    try:
        out["batch"] = str(uuid.UUID(query.get("batch", "")))
    except ValueError:
        pass
    q = query.get("q", "").strip()[:200]
    if q:
        out["q"] = q
    return out


def filtered(user: Any, filters: dict[str, str]) -> QuerySet[ProcessingTask]:
    """The user's tasks that pass the filters, newest first."""
    tasks = ProcessingTask.objects.for_user(user)
    if "status" in filters:
        tasks = tasks.filter(status=filters["status"])
    if "kind" in filters:
        tasks = tasks.filter(kind=filters["kind"])
    if "batch" in filters:
        tasks = tasks.filter(batch_items__batch_id=filters["batch"])
    if "q" in filters:
        tasks = tasks.filter(title__icontains=filters["q"])
    return tasks.order_by("-created_at")


def _newest_event_id() -> int:
    """Where the page's socket starts: read before the rows, so an event written meanwhile is replayed."""
    return ProgressUpdate.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _live_config(request: HttpRequest, after: int, **extra: Any) -> dict[str, Any]:
    return {
        "ws": "/ws/tasks/",
        "after": after,
        "stages": STAGE_LABELS,
        "row": reverse("task-row", args=[uuid.UUID(int=0)]).replace(str(uuid.UUID(int=0)), "{id}"),
        **extra,
    }


@login_required
@require_GET
def task_list(request: AuthenticatedRequest) -> HttpResponse:
    after = _newest_event_id()
    since = timezone.now()  # a task made before this is on the page already, or on a later page
    filters = _filters(request.GET)
    page = Paginator(_with_batches(filtered(request.user, filters)), PAGE_SIZE).get_page(request.GET.get("page"))
    query = QueryDict(mutable=True)
    query.update(filters)
    batches = list(Batch.objects.for_user(request.user).order_by("-created_at")[:50])
    config = _live_config(
        request, after, mode="list", filters=query.urlencode(), first_page=page.number == 1, since=since.isoformat()
    )
    return render(
        request,
        "tasks/list.html",
        {
            "page": page,
            "rows": [_row(task) for task in page.object_list],
            "filters": filters,
            "query": query.urlencode(),
            "statuses": ProcessingTask.Status.choices,
            "kinds": ProcessingTask.Kind.choices,
            "batches": batches,
            "any_tasks": filters or ProcessingTask.objects.for_user(request.user).exists(),
            "config": config,
            "next": request.get_full_path(),
        },
    )


@login_required
@require_GET
def task_row(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    """One row, rendered as the list renders it (the script asks for it when a task is new or changed state);
    204 when the task does not pass the filters the page shows, or, asked as a new row (`since`, the page's
    render time), when it was made before the page: it belongs further down, not at the top."""
    get_object_or_404(ProcessingTask.objects.for_user(request.user), pk=task_id)
    task = _with_batches(filtered(request.user, _filters(request.GET))).filter(pk=task_id).first()
    try:
        since = parse_datetime(request.GET.get("since", ""))
    except ValueError:
        since = None
    if task is None or (since is not None and task.created_at < since):
        return HttpResponse(status=204)
    return render(request, "tasks/_task_row.html", {"row": _row(task), "next": request.GET.get("next", "")})


def _back(request: HttpRequest, default: str) -> str:
    """Where a form's button returns to: the page it was on (`next`, if it is one of ours), else `default`."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@login_required
@require_POST
def task_action(request: AuthenticatedRequest, task_id: uuid.UUID, action: str) -> HttpResponse:
    """Cancel, run again or delete one of the user's tasks (a form per button; the script posts it too)."""
    body: dict[str, Any] = {}
    back = reverse("watch", args=[task_id]) if action == "cancel" else reverse("task-list")
    try:
        if action == "cancel":
            body["cancel_requested"] = services.cancel_for_owner(owner=request.user, task_id=task_id)
            note = "Cancelling." if body["cancel_requested"] else "This video had already ended."
        elif action == "reprocess":
            new = services.reprocess_for_owner(owner=request.user, task_id=task_id)
            body["new_task_id"] = str(new.pk)
            body["watch_url"] = reverse("watch", args=[new.pk])
            note = f"“{new.title}” is queued again."
        elif action == "delete":
            services.delete_task(owner=request.user, task_id=task_id)
            note = "Deleted, with its files."
        else:
            raise Http404
    except ProcessingTask.DoesNotExist:
        raise Http404 from None
    except (services.ActionRefused, quotas.LimitReached, DiskLow) as exc:
        message = getattr(exc, "message", str(exc))
        if _wants_json(request):
            return JsonResponse({**body, "error": message}, status=409)
        messages.error(request, message)
        return redirect(_back(request, back))
    if _wants_json(request):  # cancel answers as it always has (the watch page and scripts read it)
        return JsonResponse(body if action == "cancel" else {**body, "message": note})
    messages.info(request, note)
    return redirect(_back(request, back))


@login_required
@require_GET
def batch_page(request: AuthenticatedRequest, batch_id: uuid.UUID) -> HttpResponse:
    after = _newest_event_id()
    batch = get_object_or_404(Batch.objects.for_user(request.user), pk=batch_id)
    items = list(
        batch.items.select_related("task").prefetch_related(
            Prefetch("task__batch_items", queryset=BatchItem.objects.select_related("batch"))
        )
    )
    summary = batch.summary()
    ended = sum(summary[k] for k in ("done", "failed", "cancelled", "refused"))
    ends = [i.task.finished_at for i in items if i.task and i.task.finished_at]
    config = _live_config(
        request,
        after,
        mode="batch",
        tasks=[str(i.task_id) for i in items if i.task_id],
        created=batch.created_at.isoformat(),
        last_end=max(ends).isoformat() if ends else None,
    )
    return render(
        request,
        "tasks/batch.html",
        {
            "batch": batch,
            "items": [(item, _row(item.task) if item.task else None) for item in items],
            "summary": summary,
            "failed": summary["failed"] + summary["refused"],
            "ended": ended,
            "ended_pct": round(100 * ended / summary["total"]) if summary["total"] else 0,
            "total": clock(summary["total_seconds"]),
            "rate": "" if summary["success_rate"] is None else f"{summary['success_rate'] * 100:.0f} %",
            "config": config,
            "next": request.get_full_path(),
        },
    )


def _shared_options(data: QueryDict) -> dict[str, Any]:
    """The page's options as the batch API takes them: a list where the form sent several values."""
    skip = {"csrfmiddlewaretoken", "sources", "uploads", "title", "webhook_url", "url", "file"}
    return {k: (v if len(v) > 1 else v[0]) for k, v in data.lists() if k not in skip}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@login_required
@require_POST
def batch_new(request: AuthenticatedRequest) -> HttpResponse:
    """The upload page's batch: many links (one per line; playlists expanded) and/or the ids of files the page
    uploaded with the part protocol, one set of options; checked and queued as POST /api/batch does."""
    from api.views import BatchRefused, check_sources

    sources = _lines(request.POST.get("sources", "")) + request.POST.getlist("uploads")
    hook_form = _HookForm(request.POST)
    problem = ""
    if not sources:
        problem = "Paste at least one YouTube link (one per line), or choose files."
    elif not hook_form.is_valid():
        problem = _form_errors(hook_form)[0]
    else:
        try:
            checked = check_sources(request, sources, _shared_options(request.POST))
        except BatchRefused as exc:
            problem = " ".join([exc.message] + [f"{s.source}: {s.error}" for s in exc.sources[:5]])
    if problem:
        if _wants_json(request):
            return JsonResponse({"errors": [problem]}, status=400)
        form, links = UploadForm(), YouTubeForm(request.POST, auto_id="yt_%s")
        links.is_valid()
        links.errors.clear()
        links.add_error(None, problem)
        return _upload_page(request, form, links, sources=request.POST.get("sources", ""))
    hook = hook_form.cleaned_data["webhook_url"]
    batch = services.submit_batch(
        owner=request.user,
        sources=checked,
        params=_shared_options(request.POST),
        title=request.POST.get("title", "").strip(),
        webhook_url=hook,
    )
    announce_webhook_secret(request, hook)
    url = reverse("batch", args=[batch.pk])
    if _wants_json(request):
        return JsonResponse({"batch_id": str(batch.pk), "url": url}, status=201)
    return redirect(url)


class _HookForm(WebhookMixin):
    pass
