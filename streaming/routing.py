from __future__ import annotations

from django.urls import path

from .consumers import TaskEventsConsumer, UserTasksConsumer

# django-stubs types path() for Django views only; Channels routes ASGI apps with the same URL patterns.
websocket_urlpatterns = [
    path("ws/tasks/", UserTasksConsumer.as_asgi()),
    path("ws/tasks/<uuid:task_id>/", TaskEventsConsumer.as_asgi()),
]
