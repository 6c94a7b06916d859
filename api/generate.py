"""POST /api/generate: make a video from a script or a prompt (JSON), as a task of its own."""

from __future__ import annotations

import json

from django.http import JsonResponse

from jobs import quotas, services
from jobs.generate import request_errors
from media_pipeline.generate.request import GenerateRequest, InvalidRequest
from repurposer.http import AuthenticatedRequest

from .auth import api_view, error
from .views import WebhookRefused, task_urls, webhook_url, with_secret


@api_view(("POST",))
def generate(request: AuthenticatedRequest) -> JsonResponse:
    """JSON {"script" | "prompt" | "from_task", "title", "aspect", "voice", "captions", "length", "webhook_url"}
    → 202 with the task's id and URLs (the watch page plays the scenes as they are made)."""
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return error('The body must be JSON, e.g. {"script": "…"}.', 400)
    if not isinstance(data, dict):
        return error('The body must be one JSON object, e.g. {"script": "…"}.', 400)
    try:
        made = GenerateRequest.from_data(data)
    except InvalidRequest as exc:
        return error(next(iter(exc.errors.values()))[0], 400, errors=exc.errors)
    refused = request_errors(request.user, made)
    if refused:
        return error(next(iter(refused.values()))[0], 400, errors=refused)
    try:
        hook = webhook_url(data)
        task = services.submit_generate(owner=request.user, request=made, webhook_url=hook)
    except WebhookRefused as exc:
        return exc.response
    except quotas.LimitReached as exc:
        return error(exc.message, 429)
    body = {"task_id": str(task.pk), "status": task.status, "urls": task_urls(task)}
    return JsonResponse(with_secret(request, body, hook), status=202)
