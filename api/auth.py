"""Who is calling: an API token (`Authorization: Bearer <token>` or `Token <token>`) or a logged-in browser.

Token requests are exempt from CSRF: a browser never adds that header to a cross-site request on its own.
Session requests that change something still need the CSRF token, exactly like the pages.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from .models import ApiToken

log = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def error(message: str, code: int, **extra: Any) -> JsonResponse:
    """The one shape of an API error: a sentence under "error" (and field errors, where there are some)."""
    return JsonResponse({"error": message, **extra}, status=code)


def unauthorized(message: str) -> JsonResponse:
    response = error(message, 401)
    response["WWW-Authenticate"] = 'Bearer realm="repurposer"'
    return response


def not_found() -> JsonResponse:
    # The same answer for "no such task" and "not yours": a stranger learns nothing about other users' ids.
    return error("There is no such task (or it is not yours).", 404)


def parse_task_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def authenticate(request: HttpRequest) -> JsonResponse | None:
    """Set request.user from a token or the session. Returns an error response, or None when the caller may go on.

    Runs database queries: from async code call it through sync_to_async.
    """
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            return unauthorized("Send the API token as 'Authorization: Bearer <token>'.")
        token = ApiToken.find(key.strip())
        if token is None:
            return unauthorized(
                "That API token is not valid (it may have been deleted). Ask for a new one: manage.py api_token <username>."
            )
        token.touch()
        request.user = token.user
        return None
    if not request.user.is_authenticated:
        return unauthorized("Log in, or send an API token as 'Authorization: Bearer <token>'.")
    if request.method not in SAFE_METHODS:
        rejected = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
        if rejected is not None:
            return error(
                "The CSRF check failed. Send the csrftoken cookie's value in an X-CSRFToken header, "
                "or use an API token instead of the session.",
                403,
            )
    return None


def _no_view(request: HttpRequest) -> HttpResponse:
    """Stands in for the view when the CSRF middleware is asked directly: it only looks for `csrf_exempt` on
    it (there is none), and never calls it."""
    raise AssertionError("the CSRF check never calls the view")


View = Callable[..., HttpResponseBase]


def api_view(methods: tuple[str, ...]) -> Callable[[View], View]:
    """For the synchronous JSON views: method check, authentication, and JSON answers for every failure
    (404 and unexpected errors included; never an HTML page or a traceback)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = error(f"Use {' or '.join(methods)} here.", 405)
                response["Allow"] = ", ".join(methods)
                return response
            refused = authenticate(request)
            if refused is not None:
                return refused
            try:
                return view(request, *args, **kwargs)
            except Http404:
                return not_found()
            except Exception:
                log.exception("API view %s failed", view.__name__)
                return error("Something went wrong on our side. The operators have the details; try again.", 500)

        # CSRF is checked in authenticate(), only for session callers.
        return csrf_exempt(wrapper)

    return decorator
