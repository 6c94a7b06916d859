"""DiskFull anywhere in a view (the disk guard, or a write that found the disk full) is a 507 with a sentence."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from media_pipeline.errors import DiskFull

log = logging.getLogger(__name__)


class DiskFullMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DiskFull):
            return None
        log.error("refused %s %s: %s", request.method, request.path, exception.detail)
        accept = request.headers.get("Accept", "")
        if "text/html" in accept and "application/json" not in accept:
            return render(request, "ops/disk_full.html", {"message": exception.message}, status=507)
        return JsonResponse({"error": exception.message}, status=507)
