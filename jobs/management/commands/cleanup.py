"""Free disk space: delete the media of tasks that finished long ago, and abandoned upload temp files."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops import retention


class Command(BaseCommand):
    help = (
        "Delete the media folders (source, chunks, final video) of tasks finished more than --days ago, then, "
        "while free disk is under twice DISK_MIN_FREE_BYTES, of the oldest finished tasks; the task rows, their "
        "events and metrics stay. Also removes upload temp files older than a day. --dry-run lists what would go. "
        "The daily `apply-retention` schedule does the same with RETENTION_DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="age of finished tasks to purge (default 30)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        report = retention.apply(days=days, dry_run=dry_run)
        for line in report.lines:
            self.stdout.write(line)
        verb = "Would free" if dry_run else "Freed"
        self.stdout.write(f"{verb} {report.freed / 2**20:.1f} MB from {report.purged} task(s).")
