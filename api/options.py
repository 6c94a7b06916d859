"""Bind what an API client sent to the pages' own forms, so the API accepts exactly the options the pages do
(and every option added to the forms later) and passes `form.job_params()` on unchanged.

An option the client leaves out takes the value the page shows initially; the forms themselves do that
(`JobOptionsForm`), so the page, `/uploads/` and the API agree. A script that sends only a file gets the
page's defaults.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django import forms
from django.http import HttpRequest, QueryDict

from repurposer.forms import UploadForm, YouTubeForm

F = TypeVar("F", bound=forms.Form)


class BadRequest(Exception):
    """The request body could not be read; `message` says why, as a sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def request_data(request: HttpRequest) -> QueryDict | dict[str, Any]:
    """The fields of a JSON object body, or of a form / multipart body."""
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest('The request body must be a JSON object, like {"youtube_url": "…"}.')
        return data
    return request.POST


def bind(form_class: type[F], data: QueryDict | dict[str, Any], files: Any = None) -> F:
    """A bound `form_class`. A JSON null counts as left out; an object for a text field stays readable JSON.
    `webhook_url` is left to the API's own check (api.views.webhook_url), which answers in its own words."""
    if isinstance(data, QueryDict):
        if "webhook_url" in data:
            data = data.copy()
            del data["webhook_url"]
    else:
        data = {
            key: json.dumps(v) if isinstance(v, dict) else v
            for key, v in data.items()
            if v is not None and key != "webhook_url"
        }
    return form_class(data, files)


def field_errors(form: forms.Form) -> dict[str, list[str]]:
    """{"field": ["sentence", …]}; errors about the whole form are under "__all__"."""
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def first_error(form: forms.Form) -> str:
    for name, messages in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        return f"{label}: {messages[0]}" if label else str(messages[0])
    return "The request was not valid."


def upload_form(request: HttpRequest) -> UploadForm:
    return bind(UploadForm, request.POST, request.FILES)


def youtube_form(data: QueryDict | dict[str, Any]) -> YouTubeForm:
    """The YouTube form; the link may come as `youtube_url` (seed API), `url` (the page) or `video_url`."""
    aliases = ("youtube_url", "video_url")
    if isinstance(data, QueryDict):
        query = data.copy()
        for alias in aliases:
            if alias in query and "url" not in query:
                query.setlist("url", query.getlist(alias))
                del query[alias]
        return bind(YouTubeForm, query)
    plain = dict(data)
    for alias in aliases:
        if alias in plain and "url" not in plain:
            plain["url"] = plain.pop(alias)
    return bind(YouTubeForm, plain)


# Style presets of the system seed 000 described, under their names there.
LEGACY_STYLE_PRESETS = {"ecommerce_entrepreneur": "ecommerce"}
# seed 000's custom_style keys → our custom-style fields.
LEGACY_CUSTOM_STYLE = {
    "target_audience": "audience",
    "call_to_action": "call_to_action",
    "content_goal": "goal",
    "language": "language",
    "tone": "tone",
    "additional_instructions": "extra",
}


def legacy_process_form(body: dict[str, Any]) -> YouTubeForm:
    """seed 000's `POST /process-video-stream/` body as our YouTube form.

    Honoured: video_id (or youtube_url / video_url / url), force_regenerate → force, style_preset → style,
    custom_style {target_audience, call_to_action, content_goal, language, tone, additional_instructions}
    → style "custom" with those fields. Our own option names (interval, download, commentary, voice, ideas,
    idea_count, …) are accepted as well. Ignored: performance_mode (there is one pipeline), and anything else.
    """
    data: dict[str, Any] = {k: v for k, v in body.items() if k in YouTubeForm.base_fields}
    for alias in ("video_id", "youtube_url", "video_url"):
        if body.get(alias) and "url" not in data:
            data["url"] = body[alias]
    if "force_regenerate" in body and "force" not in data:
        data["force"] = body["force_regenerate"]
    custom = body.get("custom_style")
    preset = body.get("style_preset")
    if isinstance(custom, dict) and custom:
        # As in seed 000, a custom style wins over a preset.
        data.setdefault("style", "custom")
        for theirs, ours in LEGACY_CUSTOM_STYLE.items():
            if custom.get(theirs) is not None and ours not in data:
                data[ours] = custom[theirs]
    elif preset and "style" not in data:
        data["style"] = LEGACY_STYLE_PRESETS.get(preset, preset)
    return bind(YouTubeForm, data)
