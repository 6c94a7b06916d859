"""POST /api/generate: make a video from a script or a prompt (JSON), as a task of its own."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import JsonResponse

from jobs import quotas, services
from jobs.generate import batch_source, request_errors
from media_pipeline.generate.request import GenerateRequest, InvalidRequest
from repurposer.http import AuthenticatedRequest

from .auth import api_view, error
from .views import WebhookRefused, batch_detail, task_urls, webhook_url, with_secret


@api_view(("POST",))
def generate(request: AuthenticatedRequest) -> JsonResponse:
    """JSON {"script" | "prompt" | "from_task", "title", "aspect", "voice", "captions", "length", "webhook_url"}
    → 202 with the task's id and URLs (the watch page plays the scenes as they are made). A list, or
    {"items": [...]} with shared options, is a batch (see `_batch`)."""
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return error('The body must be JSON, e.g. {"script": "…"}.', 400)
    if isinstance(data, list):
        data = {"items": data}
    if not isinstance(data, dict):
        return error('The body must be one JSON object, e.g. {"script": "…"}.', 400)
    if "items" in data:
        return _batch(request, data)
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


def _batch(request: AuthenticatedRequest, data: dict[str, Any]) -> JsonResponse:
    """`{"items": [{"script": …} | {"prompt": …} | {"from_task": …} | "a script", …], "title", …shared
    options}` (or a bare list): a batch of made videos, each its own task (the fair queue runs at most
    USER_MAX_RUNNING of the owner's at once). Every entry is checked alone; one that cannot be made is the
    batch's failure with its sentence, and the others are queued."""
    items = data.get("items")
    if not isinstance(items, list) or not items:
        return error('Send the videos as "items": a list of requests like {"script": "…"} or {"prompt": "…"}.', 400)
    if len(items) > settings.BATCH_MAX_SOURCES:
        return error(
            f"A batch may hold at most {settings.BATCH_MAX_SOURCES} videos; this one has {len(items)}. "
            "Split it into several batches.",
            400,
        )
    try:
        hook = webhook_url(data)
    except WebhookRefused as exc:
        return exc.response
    shared = {k: v for k, v in data.items() if k not in ("items", "title", "webhook_url")}
    sources = [batch_source(request.user, item, shared) for item in items]
    if all(src.error for src in sources):
        return error(
            "None of the videos could be started.",
            400,
            sources=[{"source": src.source, "error": src.error} for src in sources],
        )
    batch = services.submit_batch(
        owner=request.user,
        sources=sources,
        params={**shared, "kind": "generate"},
        title=str(data.get("title") or ""),
        webhook_url=hook,
    )
    return JsonResponse(with_secret(request, batch_detail(batch), hook), status=202)
