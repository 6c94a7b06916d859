from __future__ import annotations

from django.urls import path

from .consumers import TaskEventsConsumer

websocket_urlpatterns = [path("ws/tasks/<uuid:task_id>/", TaskEventsConsumer.as_asgi())]
