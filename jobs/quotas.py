"""Per-user limits checked when work is submitted (the running limit is the fair queue's, in models.py).

Each check runs inside the submitting transaction after `lock_owner`, so two submissions of the same user
at once are counted one after the other (PostgreSQL: the user's row is locked; SQLite: IMMEDIATE
transactions already hold the write lock).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from .models import ProcessingTask

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class LimitReached(Exception):
    """A per-user limit would be passed; `message` says which and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _size(n: int) -> str:
    # jobs/ does not import the web forms' helper; the same rounding, kept small.
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _videos(n: int) -> str:
    return f"{n} video" if n == 1 else f"{n} videos"


def lock_owner(owner: AbstractBaseUser) -> None:
    """Hold the owner's row until the transaction ends (a no-op on SQLite, whose writers are serialised).

    FOR NO KEY UPDATE, not FOR UPDATE: it still queues every other holder of this lock (a claim, a submit),
    but not the foreign-key checks of rows that reference the owner, which take FOR KEY SHARE. With FOR
    UPDATE a claim waiting on a task row deadlocked with the transaction holding that row, whose COMMIT
    checked the task's owner key (PostgreSQL re-checks it when one transaction updates a row twice)."""
    list(get_user_model().objects.select_for_update(no_key=True).filter(pk=owner.pk).values_list("pk", flat=True))


def check_queue(owner: AbstractBaseUser, *, adding: int = 1) -> None:
    """Refuse when the owner's waiting work (queued, or still uploading) would pass USER_MAX_QUEUED, or
    when today's processed minutes reached USER_DAILY_MINUTES."""
    limit = settings.USER_MAX_QUEUED
    waiting = ProcessingTask.objects.filter(
        owner_id=owner.pk, status__in=(ProcessingTask.Status.QUEUED, ProcessingTask.Status.UPLOADING)
    ).count()
    if waiting + adding > limit:
        if adding == 1 or waiting >= limit:
            raise LimitReached(
                f"You already have {_videos(waiting)} waiting, the most allowed is {limit}. "
                "Wait for some to finish, or cancel some, then submit again."
            )
        raise LimitReached(
            f"You have {_videos(waiting)} waiting; {adding} more would pass the limit of {limit}. "
            f"Submit at most {limit - waiting} now."
        )
    check_daily_minutes(owner)


def minutes_today(owner: AbstractBaseUser) -> float:
    """Minutes of video the owner's tasks started processing today (their probed duration)."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    durations = ProcessingTask.objects.filter(owner_id=owner.pk, started_at__gte=midnight).values_list(
        "result__media__duration", flat=True
    )
    return sum(float(d) for d in durations if isinstance(d, int | float)) / 60


def check_daily_minutes(owner: AbstractBaseUser) -> None:
    quota = settings.USER_DAILY_MINUTES
    if not quota:
        return
    used = minutes_today(owner)
    if used >= quota:
        raise LimitReached(
            f"You have processed {used:.0f} minutes of video today; the daily limit is {quota} minutes. "
            "You can submit more tomorrow."
        )


def check_upload(owner: AbstractBaseUser, *, size: int) -> None:
    """Refuse a new part-by-part upload past USER_MAX_OPEN_UPLOADS unfinished ones, or when the bytes
    the unfinished ones claim would pass USER_MAX_OPEN_UPLOAD_BYTES (the disk they may fill)."""
    open_uploads = ProcessingTask.objects.filter(owner_id=owner.pk, status=ProcessingTask.Status.UPLOADING)
    count = open_uploads.count()
    if count >= settings.USER_MAX_OPEN_UPLOADS:
        raise LimitReached(
            f"You have {count} uploads that have not finished; the most allowed at once is "
            f"{settings.USER_MAX_OPEN_UPLOADS}. Let one finish, or cancel one, then start this one."
        )
    claimed = sum(open_uploads.values_list("source_size", flat=True))
    limit = settings.USER_MAX_OPEN_UPLOAD_BYTES
    if claimed + size > limit:
        raise LimitReached(
            f"Your unfinished uploads already claim {_size(claimed)}; this file ({_size(size)}) would pass "
            f"the limit of {_size(limit)} for uploads in progress. Let one finish, or cancel one, first."
        )
    check_queue(owner)
