"""Free disk space: delete the media of tasks that finished long ago, and abandoned upload temp files."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jobs.models import ProcessingTask


class Command(BaseCommand):
    help = (
        "Delete the media folders (source, chunks, final video) of tasks finished more than --days ago; the task "
        "rows, their events and metrics stay. Also removes upload temp files older than a day. "
        "--dry-run lists what would go."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="age of finished tasks to purge (default 30)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        cutoff = timezone.now() - timedelta(days=days)
        freed = purged = 0
        old = ProcessingTask.objects.filter(status__in=ProcessingTask.FINISHED, finished_at__lt=cutoff)
        for task in old.iterator():
            folder = task.workdir()
            if not folder.exists():
                continue
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            self.stdout.write(f"{'would delete' if dry_run else 'deleting'} {folder} ({size / 2**20:.1f} MB)")
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
                ProcessingTask.objects.filter(pk=task.pk).update(result={**task.result, "media_deleted": True})
            freed += size
            purged += 1
        incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
        day_ago = time.time() - 86400
        for leftover in incoming.glob("*") if incoming.exists() else []:
            if leftover.is_file() and leftover.stat().st_mtime < day_ago:
                freed += leftover.stat().st_size
                self.stdout.write(f"{'would delete' if dry_run else 'deleting'} {leftover}")
                if not dry_run:
                    leftover.unlink(missing_ok=True)
        verb = "Would free" if dry_run else "Freed"
        self.stdout.write(f"{verb} {freed / 2**20:.1f} MB from {purged} task(s).")
