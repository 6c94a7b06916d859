"""Every URL of the API and the legacy adapters (included at the site root). A trailing slash is optional."""

from __future__ import annotations

from django.urls import re_path

from . import generate, legacy, views

TASK = r"(?P<task_id>[^/]+)"

urlpatterns = [
    re_path(r"^api/create/?$", views.create, name="api-create"),
    re_path(r"^api/generate/?$", generate.generate, name="api-generate"),
    re_path(r"^api/tasks/?$", views.task_list, name="api-tasks"),
    re_path(r"^api/uploads/?$", views.upload_start, name="api-upload-start"),
    re_path(rf"^api/uploads/{TASK}/?$", views.upload_part, name="api-upload-part"),
    re_path(r"^api/batch/?$", views.batch_create, name="api-batch-create"),
    re_path(r"^api/batches/?$", views.batch_list, name="api-batches"),
    re_path(r"^api/batch/(?P<batch_id>[^/]+)/?$", views.batch, name="api-batch"),
    re_path(r"^api/webhook-secret/?$", views.webhook_secret, name="api-webhook-secret"),
    re_path(rf"^api/task/{TASK}/events/?$", views.events, name="api-task-events"),
    re_path(rf"^api/task/{TASK}/cancel/?$", views.cancel, name="api-task-cancel"),
    re_path(rf"^api/task/{TASK}/kit/image/?$", views.kit_image, name="api-kit-image"),
    re_path(rf"^api/task/{TASK}/?$", views.task, name="api-task"),
    # Legacy adapters (see api/legacy.py and the seeds).
    re_path(r"^process-video-stream/?$", legacy.process_video_stream, name="process-video-stream"),
    re_path(rf"^analyze-stream/{TASK}/?$", legacy.analyze_stream, name="analyze-stream"),
    re_path(rf"^api/analyze-stream/{TASK}/?$", legacy.analyze_stream, name="api-analyze-stream"),
    re_path(rf"^cancel-task/{TASK}/?$", legacy.cancel_task, name="cancel-task"),
]
