"""The request a view gets once authentication has run, for type checking."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedRequest(HttpRequest):
    """A request behind `login_required` (or the API's `api_view`): `request.user` is a real user.

    Only an annotation for views: Django never builds one, and nothing checks it at run time.
    """

    user: User
