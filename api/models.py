"""API tokens: a script's way to sign in. Only a hash of each token is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Writing last_used_at on every request would turn every read into a write (and queue behind the workers'
# writes on SQLite); this often is enough to tell a used token from a forgotten one.
TOUCH_EVERY = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for, e.g. the script's name.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="The token's first characters, to tell it apart.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'}, {self.user})"

    @classmethod
    def create_for(cls, *, user: User, name: str = "") -> tuple[ApiToken, str]:
        """A new token for `user`. Returns the row and the token itself, which is not stored anywhere."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name[:100], key_hash=hash_key(key), prefix=key[:8])
        return token, key

    @classmethod
    def find(cls, key: str) -> ApiToken | None:
        """The active token with this value, or None. The lookup is by hash, so the value is never compared
        (or logged) in the clear."""
        if not key or len(key) > 200:
            return None
        token = cls.objects.select_related("user").filter(key_hash=hash_key(key)).first()
        if token is None or not token.user.is_active:
            return None
        return token

    def touch(self) -> None:
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > TOUCH_EVERY:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
