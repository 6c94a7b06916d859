"""Create an API token for a user and print it once: `manage.py api_token alice --name "nightly script"`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it (only this once; just its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for (shown in the admin).")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user called {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is deactivated; a token for them would not work.")
        token, key = ApiToken.create_for(user=user, name=name)
        # The token alone on stdout, so `TOKEN=$(manage.py api_token alice)` works; the note goes to stderr.
        self.stdout.write(key)
        self.stderr.write(
            f"Token {token.prefix}… created for {username}. Store it now: it cannot be shown again. "
            "Send it as 'Authorization: Bearer <token>'; delete it in the admin to revoke it."
        )
