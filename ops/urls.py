from __future__ import annotations

from django.urls import path

from . import dashboard, views

urlpatterns = [
    path("metrics", views.prometheus, name="metrics"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("performance/", dashboard.dashboard, name="performance"),
]
