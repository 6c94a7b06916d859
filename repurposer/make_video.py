"""The "Make a video" page: a script or a prompt in, a watch page out (the scenes play as they are made)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from jobs import quotas, services
from jobs.generate import batch_source, request_errors
from jobs.models import ProcessingTask
from media_pipeline.generate.clip import ASPECTS
from media_pipeline.generate.request import GenerateRequest, InvalidRequest, parse_batch_text

from .forms import voice_choices
from .http import AuthenticatedRequest

FIELDS = ("script", "prompt", "from_task", "title", "aspect", "voice", "length", "visuals")
SOURCES = ("script", "prompt", "from_task")


@login_required
@require_http_methods(["GET", "POST"])
def make_video(request: AuthenticatedRequest) -> HttpResponse:
    values: dict[str, object] = {"aspect": "9:16", "length": 45, "captions": True, "mode": "script", "visuals": "cards"}
    if request.GET.get("from_task"):  # "Make a recap" from a video's page
        values.update(mode="from_task", from_task=request.GET["from_task"])
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and request.POST.get("mode") == "batch":
        return _batch(request)
    if request.method == "POST":
        mode = request.POST.get("mode") if request.POST.get("mode") in SOURCES else "script"
        values = {key: request.POST.get(key, "") for key in FIELDS}
        values["captions"] = request.POST.get("captions") == "on"
        values["visuals"] = values["visuals"] or "cards"  # the choice is offered only with a video service
        values["mode"] = mode
        data = dict(values)
        data.pop("mode")
        for other in SOURCES:  # only the box of the chosen tab counts
            if other != mode:
                data.pop(other)
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
    return _page(request, values, errors)


def _page(request: AuthenticatedRequest, values: dict[str, object], errors: dict[str, list[str]]) -> HttpResponse:
    context = {
        "values": values,
        "errors": errors,
        "error_list": [m for ms in errors.values() for m in ms],
        "aspects": list(ASPECTS),
        "voices": voice_choices(),
        "has_llm": settings.LLM_PROVIDER != "offline",
        # Clips from a video-generation service only where one is configured; else every scene is a title card.
        "has_video_provider": settings.VIDEO_PROVIDER != "off",
        "api_url": reverse("api-generate"),
        "batch_max": settings.BATCH_MAX_SOURCES,
        "recappable": ProcessingTask.objects.for_user(request.user)
        .filter(kind=ProcessingTask.Kind.CHUNKS, status=ProcessingTask.Status.SUCCEEDED)
        .order_by("-created_at")
        .only("pk", "title", "created_at")[:50],
    }
    return render(request, "tasks/make_video.html", context, status=400 if errors else 200)


MAX_BATCH_FILE = 2 * 2**20


def _batch(request: AuthenticatedRequest) -> HttpResponse:
    """A text file of scripts, prompts ("prompt: …") and recaps ("task: <id>"), separated by blank lines,
    with the form's options: a batch, each entry its own task, then the batch's page (each refused entry's
    sentence there); when every entry is refused, no batch, the page again with the sentences (400)."""
    values: dict[str, object] = {key: request.POST.get(key, "") for key in FIELDS if key not in SOURCES}
    values["captions"] = request.POST.get("captions") == "on"
    values["mode"] = "batch"
    upload = request.FILES.get("batch_file")
    text = ""
    if upload is None:
        return _page(request, values, {"batch_file": ["Choose a text file with the scripts or prompts."]})
    if upload.size is not None and upload.size > MAX_BATCH_FILE:
        return _page(request, values, {"batch_file": ["The file is larger than 2 MB; split it."]})
    try:
        text = upload.read().decode("utf-8")
    except UnicodeDecodeError:
        return _page(request, values, {"batch_file": ["The file must be plain text (UTF-8)."]})
    entries = parse_batch_text(text)
    if not entries:
        return _page(
            request, values, {"batch_file": ["The file has no scripts or prompts (blank lines separate them)."]}
        )
    if len(entries) > settings.BATCH_MAX_SOURCES:
        return _page(
            request,
            values,
            {
                "batch_file": [
                    f"A batch may hold at most {settings.BATCH_MAX_SOURCES} videos; this file has {len(entries)}."
                ]
            },
        )
    shared = {k: v for k, v in values.items() if k not in ("mode", "title") and v != ""}
    sources = [batch_source(request.user, entry, shared) for entry in entries]
    if all(src.error for src in sources):  # as POST /api/generate with "items": no batch of nothing
        refused = [f"{src.source[:80]}: {src.error}" for src in sources]
        return _page(request, values, {"batch_file": ["None of the videos could be started.", *refused]})
    made = services.submit_batch(
        owner=request.user,
        sources=sources,
        params={**shared, "kind": "generate"},
        title=str(values.get("title") or upload.name or "")[:255],
    )
    return redirect(reverse("batch", args=[made.pk]))  # after the POST: a refresh does not queue it again
