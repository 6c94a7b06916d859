from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .models import Batch, Idea, PerformanceMetrics, ProcessingTask, ProgressUpdate, WebhookAttempt, WebhookDelivery


def to_the_second(value: datetime | None) -> str:
    """A time as operators compare them (the admin's own format stops at the minute)."""
    return "—" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def time_column(field: str, description: str, *, sortable: bool = True) -> Callable[[Any, Any], str]:
    """An admin column showing the model's `field` to the second (sorted by it when `sortable`)."""

    @admin.display(description=description, ordering=field if sortable else None)
    def column(admin_obj: Any, obj: Any) -> str:
        return to_the_second(getattr(obj, field))

    return column


def folded_json(value: Any, label: str = "data") -> str:
    """JSON folded under a one-line summary: a word-level transcript is thousands of lines when open."""
    if value in (None, {}, []):
        return "—"
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    size = f"{len(value)} keys" if isinstance(value, dict) else f"{len(value)} items" if isinstance(value, list) else ""
    return format_html(
        '<details class="folded"><summary>{} <span class="quiet">({}, {} lines)</span></summary><pre>{}</pre></details>',
        label,
        size,
        text.count("\n") + 1,
        text,
    )


class AdminPresentation:
    """The small stylesheet that keeps inline rows to one line each."""

    class Media:
        css = {"all": ("css/admin.css",)}


class ProgressUpdateInline(admin.TabularInline):
    """One line per event: when (to the second), type, stage, progress, message; its data folded."""

    model = ProgressUpdate
    fields = ("seq", "when", "type", "stage", "progress", "message", "data_folded")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("seq",)
    show_change_link = False
    classes = ("events-inline",)

    when = time_column("created_at", "time", sortable=False)

    @admin.display(description="data")
    def data_folded(self, obj: ProgressUpdate) -> str:
        return folded_json(obj.data)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class PerformanceMetricsInline(admin.TabularInline):
    model = PerformanceMetrics
    fields = ("operation", "duration_ms", "success", "data_folded", "when")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)
    classes = ("events-inline",)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    when = time_column("created_at", "time", sortable=False)

    @admin.display(description="data")
    def data_folded(self, obj: PerformanceMetrics) -> str:
        return folded_json(obj.data)


class IdeaInline(admin.TabularInline):
    model = Idea
    fields = ("index", "kind", "title", "status", "start", "end", "provider", "model", "version", "errors")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("index",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Idea)
class IdeaAdmin(admin.ModelAdmin):
    list_display = ("task", "index", "kind", "title", "status", "provider", "version", "updated_at")
    list_filter = ("kind", "status", "provider")
    search_fields = ("title", "task__id")
    readonly_fields = (
        "task",
        "index",
        "kind",
        "title",
        "snippet",
        "start",
        "end",
        "reason",
        "status",
        "piece",
        "errors",
        "files",
        "provider",
        "model",
        "version",
        "updated_at",
    )
    actions = ["regenerate"]

    @admin.action(description="Regenerate the selected pieces")
    def regenerate(self, request: HttpRequest, queryset: QuerySet[Idea]) -> None:
        started = sum(services.request_regenerate(idea=idea) for idea in queryset)
        self.message_user(
            request,
            f"{started} of {queryset.count()} pieces are being written again "
            "(pieces of running tasks, or already being written, were left alone).",
        )


@admin.register(ProcessingTask)
class ProcessingTaskAdmin(AdminPresentation, admin.ModelAdmin):
    list_display = (
        "title",
        "status",
        "kind",
        "owner",
        "stage",
        "progress_pct",
        "duration_display",
        "attempts",
        "created",
        "watch_link",
    )
    list_filter = ("status", "kind", "source", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("id", "title", "owner__username", "owner__email", "error")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "owner",
        "kind",
        "source",
        "source_path",
        "source_size",
        "parent",
        "status",
        "stage",
        "progress",
        "eta_seconds",
        "attempts",
        "worker",
        "heartbeat",
        "cancel_requested",
        "last_seq",
        "error",
        "error_detail_pre",
        "result_folded",
        "created",
        "started",
        "finished",
        "watch_link",
        "webhook_url",
        "webhooks_link",
    )
    # What the job reads once it has started, and everything once it has finished, cannot be edited.
    LOCKED_WHEN_STARTED = ("params_folded", "content_key")
    LOCKED_WHEN_FINISHED = ("title",)
    exclude = ("error_detail", "result", "created_at", "started_at", "finished_at", "heartbeat_at")
    inlines = [IdeaInline, ProgressUpdateInline, PerformanceMetricsInline]
    actions = ["cancel_tasks", "reprocess_tasks"]
    list_select_related = ("owner",)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if isinstance(obj, ProcessingTask) and obj.status != ProcessingTask.Status.QUEUED:
            fields += self.LOCKED_WHEN_STARTED
            if obj.is_finished:
                fields += self.LOCKED_WHEN_FINISHED
        return fields

    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        exclude = tuple(super().get_exclude(request, obj) or ())
        if isinstance(obj, ProcessingTask) and obj.status != ProcessingTask.Status.QUEUED:
            exclude += ("params",)  # shown folded, read-only, as params_folded
        return exclude

    created = time_column("created_at", "created")

    started = time_column("started_at", "started")

    finished = time_column("finished_at", "finished")

    heartbeat = time_column("heartbeat_at", "heartbeat", sortable=False)

    @admin.display(description="params")
    def params_folded(self, obj: ProcessingTask) -> str:
        return folded_json(obj.params, "params")

    @admin.display(description="result")
    def result_folded(self, obj: ProcessingTask) -> str:
        return folded_json(obj.result, "result")

    @admin.display(description="progress", ordering="progress")
    def progress_pct(self, obj: ProcessingTask) -> str:
        return f"{obj.progress:.0f} %"

    @admin.display(description="duration")
    def duration_display(self, obj: ProcessingTask) -> str:
        d = obj.duration
        return "—" if d is None else f"{d.total_seconds():.1f} s"

    @admin.display(description="error detail")
    def error_detail_pre(self, obj: ProcessingTask) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.error_detail) if obj.error_detail else "—"

    @admin.display(description="watch page")
    def watch_link(self, obj: ProcessingTask) -> str:
        return format_html(
            '<a href="{}">watch</a> <span class="quiet">(its owner only)</span>', reverse("watch", args=[obj.pk])
        )

    @admin.display(description="webhook deliveries")
    def webhooks_link(self, obj: ProcessingTask) -> str:
        return deliveries_link(obj.webhook_deliveries.count(), f"task__id__exact={obj.pk}")

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[ProcessingTask]) -> None:
        n = sum(services.request_cancel(task=task) for task in queryset)
        self.message_user(request, f"Asked {n} task(s) to stop.", messages.SUCCESS)

    @admin.action(description="Reprocess selected tasks (as new tasks)")
    def reprocess_tasks(self, request: HttpRequest, queryset: QuerySet[ProcessingTask]) -> None:
        made, missing = 0, 0
        for task in queryset:
            try:
                services.reprocess(task=task)
                made += 1
            except FileNotFoundError:
                missing += 1
        self.message_user(request, f"Queued {made} new task(s).", messages.SUCCESS)
        if missing:
            self.message_user(request, f"{missing} task(s) have no stored source any more.", messages.WARNING)


@admin.register(PerformanceMetrics)
class PerformanceMetricsAdmin(admin.ModelAdmin):
    list_display = ("operation", "duration_ms", "success", "task", "created_at")
    list_filter = ("operation", "success", "created_at")
    search_fields = ("operation", "task__id")
    readonly_fields = ("task", "operation", "duration_ms", "success", "data", "created_at")


# --- webhooks (jobs/webhooks.py): read-only, every attempt one line ----------------------------------------


def deliveries_link(count: int, query: str) -> str:
    if not count:
        return "—"
    return format_html(
        '<a href="{}?{}">{} deliver{}</a>',
        reverse("admin:jobs_webhookdelivery_changelist"),
        query,
        count,
        "y" if count == 1 else "ies",
    )


class ReadOnly:
    """What operators may do with a record of what was sent: look."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class WebhookAttemptInline(ReadOnly, admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "when", "status_code", "error", "duration", "response_excerpt")
    readonly_fields = fields
    extra = 0
    ordering = ("number",)
    classes = ("events-inline",)

    when = time_column("started_at", "time", sortable=False)

    @admin.display(description="duration")
    def duration(self, obj: WebhookAttempt) -> str:
        return f"{obj.duration_ms:.0f} ms"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly, AdminPresentation, admin.ModelAdmin):
    list_display = ("event", "subject", "owner", "url", "status", "attempts", "created", "finished")
    list_filter = ("status", "event", "created_at")
    search_fields = ("id", "url", "task__id", "batch__id", "owner__username")
    list_select_related = ("owner",)
    fields = (
        "id",
        "event",
        "subject",
        "owner",
        "url",
        "status",
        "attempts",
        "next_attempt",
        "created",
        "finished",
        "payload_folded",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]

    @admin.display(description="task or batch")
    def subject(self, obj: WebhookDelivery) -> str:
        if obj.task_id:
            return format_html(
                '<a href="{}">task {}</a>', reverse("admin:jobs_processingtask_change", args=[obj.task_id]), obj.task_id
            )
        if obj.batch_id:
            return format_html(
                '<a href="{}">batch {}</a>', reverse("admin:jobs_batch_change", args=[obj.batch_id]), obj.batch_id
            )
        return "—"

    created = time_column("created_at", "created")

    finished = time_column("finished_at", "finished")

    next_attempt = time_column("next_attempt_at", "next attempt", sortable=False)

    @admin.display(description="body")
    def payload_folded(self, obj: WebhookDelivery) -> str:
        return folded_json(obj.payload, "body")


@admin.register(Batch)
class BatchAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("__str__", "owner", "created_at", "webhook_url")
    search_fields = ("id", "title", "owner__username")
    fields = ("id", "owner", "title", "params", "webhook_url", "created_at", "webhooks_link")
    readonly_fields = fields
    list_select_related = ("owner",)

    @admin.display(description="webhook deliveries")
    def webhooks_link(self, obj: Batch) -> str:
        return deliveries_link(obj.webhook_deliveries.count(), f"batch__id__exact={obj.pk}")
