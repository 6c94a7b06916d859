from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from streaming import views as streaming_views

from . import dashboard, make_video, views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("youtube/", views.submit_youtube, name="submit-youtube"),
    path("make/", make_video.make_video, name="make-video"),
    path("uploads/", views.upload_start, name="upload-start"),
    path("uploads/<uuid:task_id>/", views.upload_part, name="upload-part"),
    path("tasks/", dashboard.task_list, name="task-list"),
    path("tasks/<uuid:task_id>/row/", dashboard.task_row, name="task-row"),
    path("tasks/<uuid:task_id>/reprocess/", dashboard.task_action, {"action": "reprocess"}, name="task-reprocess"),
    path("tasks/<uuid:task_id>/delete/", dashboard.task_action, {"action": "delete"}, name="task-delete"),
    path("batches/new/", dashboard.batch_new, name="batch-new"),
    path("batches/<uuid:batch_id>/", dashboard.batch_page, name="batch"),
    path("tasks/<uuid:task_id>/", views.watch, name="watch"),
    path("tasks/<uuid:task_id>/cancel/", dashboard.task_action, {"action": "cancel"}, name="cancel"),
    path("tasks/<uuid:task_id>/hls/playlist.m3u8", streaming_views.playlist, name="playlist"),
    path("tasks/<uuid:task_id>/media/<path:name>", streaming_views.media, name="task-media"),
    re_path(
        r"^tasks/(?P<task_id>[0-9a-f-]{36})/transcript\.(?P<fmt>srt|vtt|txt)$",
        streaming_views.transcript,
        name="transcript",
    ),
    path("tasks/<uuid:task_id>/commentary.vtt", streaming_views.commentary, name="commentary"),
    re_path(r"^tasks/(?P<task_id>[0-9a-f-]{36})/export\.(?P<fmt>json|md|zip)$", streaming_views.export, name="export"),
    path("tasks/<uuid:task_id>/ideas/<int:index>/regenerate", views.regenerate_piece, name="regenerate-piece"),
    path("performance/metrics", views.performance_metrics, name="performance-metrics"),
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("", include("api.urls")),
]
