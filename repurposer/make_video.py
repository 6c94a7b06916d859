"""The "Make a video" page: a script or a prompt in, a watch page out (the scenes play as they are made)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from jobs import quotas, services
from jobs.generate import request_errors
from media_pipeline.generate.clip import ASPECTS
from media_pipeline.generate.request import GenerateRequest, InvalidRequest

from .forms import voice_choices
from .http import AuthenticatedRequest

FIELDS = ("script", "prompt", "title", "aspect", "voice", "length")


@login_required
@require_http_methods(["GET", "POST"])
def make_video(request: AuthenticatedRequest) -> HttpResponse:
    values: dict[str, object] = {"aspect": "9:16", "length": 45, "captions": True, "mode": "script"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        mode = "prompt" if request.POST.get("mode") == "prompt" else "script"
        values = {key: request.POST.get(key, "") for key in FIELDS}
        values["captions"] = request.POST.get("captions") == "on"
        values["mode"] = mode
        data = dict(values)
        data.pop("mode")
        data.pop("prompt" if mode == "script" else "script")  # only the box of the chosen tab counts
        try:
            made = GenerateRequest.from_data(data)
            errors = request_errors(request.user, made)
        except InvalidRequest as exc:
            errors = exc.errors
        if not errors:
            try:
                task = services.submit_generate(owner=request.user, request=made)
            except quotas.LimitReached as exc:
                errors = {"__all__": [exc.message]}
            else:
                return redirect(reverse("watch", args=[task.pk]))
    context = {
        "values": values,
        "errors": errors,
        "error_list": [m for ms in errors.values() for m in ms],
        "aspects": list(ASPECTS),
        "voices": voice_choices(),
        "has_llm": settings.LLM_PROVIDER != "offline",
        "api_url": reverse("api-generate"),
    }
    return render(request, "tasks/make_video.html", context, status=400 if errors else 200)
