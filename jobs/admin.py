from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from . import services
from .models import Idea, PerformanceMetrics, ProcessingTask, ProgressUpdate


class ProgressUpdateInline(admin.TabularInline):
    model = ProgressUpdate
    fields = ("seq", "type", "stage", "progress", "message", "data", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("seq",)
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class PerformanceMetricsInline(admin.TabularInline):
    model = PerformanceMetrics
    fields = ("operation", "duration_ms", "success", "data", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


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
class ProcessingTaskAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "status",
        "kind",
        "owner",
        "stage",
        "progress_pct",
        "duration_display",
        "attempts",
        "created_at",
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
        "heartbeat_at",
        "cancel_requested",
        "last_seq",
        "error",
        "error_detail_pre",
        "result",
        "created_at",
        "started_at",
        "finished_at",
        "watch_link",
    )
    exclude = ("error_detail",)
    inlines = [IdeaInline, ProgressUpdateInline, PerformanceMetricsInline]
    actions = ["cancel_tasks", "reprocess_tasks"]
    list_select_related = ("owner",)

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
        return format_html('<a href="/tasks/{}/">open (owner only)</a>', obj.pk)

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
