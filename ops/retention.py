"""Deleting media: by age (RETENTION_DAYS), then, while the disk is short, finished tasks oldest first.

The task rows, their events and metrics stay; the task's `result` records `media_deleted_at`, so its page
says when its media went instead of offering chunks that 404.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from jobs.models import ProcessingTask

from . import disk


@dataclass
class Report:
    purged: int = 0
    freed: int = 0
    lines: list[str] = field(default_factory=list)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def purge(task: ProcessingTask, *, dry_run: bool = False, report: Report, why: str) -> None:
    """Delete one finished task's media folder and record when."""
    folder = task.workdir()
    if not folder.exists():
        return
    size = _size(folder)
    report.lines.append(f"{'would delete' if dry_run else 'deleting'} {folder} ({size / 2**20:.1f} MB, {why})")
    if not dry_run:
        shutil.rmtree(folder, ignore_errors=True)
        result = {**task.result, "media_deleted": True, "media_deleted_at": timezone.now().isoformat()}
        ProcessingTask.objects.filter(pk=task.pk).update(result=result)
    report.freed += size
    report.purged += 1


def apply(*, days: int | None = None, dry_run: bool = False, free_bytes: Callable[[], int] = disk.free_bytes) -> Report:
    """1. Finished more than `days` (RETENTION_DAYS) ago: deleted. 2. While free space is under twice
    DISK_MIN_FREE_BYTES: the oldest finished task's media next, one at a time. 3. Upload temp files a day old."""
    report = Report()
    if days is None:  # the schedule: RETENTION_DAYS, where 0 keeps media forever
        days = settings.RETENTION_DAYS or None
    finished = ProcessingTask.objects.filter(status__in=ProcessingTask.FINISHED, finished_at__isnull=False)
    if days is not None:
        cutoff = timezone.now() - timedelta(days=days)
        for task in finished.filter(finished_at__lt=cutoff).order_by("finished_at").iterator():
            if not task.result.get("media_deleted"):
                purge(task, dry_run=dry_run, report=report, why=f"finished over {days} days ago")
    wanted = 2 * settings.DISK_MIN_FREE_BYTES
    if free_bytes() < wanted:
        for task in finished.order_by("finished_at").iterator():
            if free_bytes() + (report.freed if dry_run else 0) >= wanted:
                break
            if not task.result.get("media_deleted"):
                purge(task, dry_run=dry_run, report=report, why="the disk is short of space")
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    day_ago = time.time() - 86400
    for leftover in incoming.glob("*") if incoming.exists() else []:
        if leftover.is_file() and leftover.stat().st_mtime < day_ago:
            report.freed += leftover.stat().st_size
            report.lines.append(f"{'would delete' if dry_run else 'deleting'} {leftover}")
            if not dry_run:
                leftover.unlink(missing_ok=True)
    return report
