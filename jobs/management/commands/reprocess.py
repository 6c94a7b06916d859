"""Re-run tasks from their stored source, as new tasks, and follow them with a progress bar."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from datetime import time as dtime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from jobs import services
from jobs.engine import run_task
from jobs.models import ProcessingTask


class Command(BaseCommand):
    help = (
        "Re-run tasks from their stored source. Each re-run is a NEW task (parent = the old one), so the old "
        "task's events and files stay as they were. Examples: reprocess <id> <id>, reprocess --failed, "
        "reprocess --since 2026-11-01."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_ids", nargs="*", help="task ids (uuid)")
        parser.add_argument("--failed", action="store_true", help="all failed tasks")
        parser.add_argument("--since", help="with --failed or alone: tasks created on or after this date (YYYY-MM-DD)")
        parser.add_argument("--inline", action="store_true", help="run here, one after another, without the workers")
        parser.add_argument("--no-wait", action="store_true", help="queue them and return at once")
        parser.add_argument("--timeout", type=float, default=0, help="stop waiting after this many seconds (0 = never)")

    def handle(
        self,
        *args: Any,
        task_ids: list[str],
        failed: bool,
        since: str | None,
        inline: bool,
        no_wait: bool,
        timeout: float,
        **options: Any,
    ) -> None:
        tasks = ProcessingTask.objects.all()
        if not (task_ids or failed or since):
            raise CommandError("Name task ids, or use --failed and/or --since.")
        if task_ids:
            tasks = tasks.filter(pk__in=task_ids)
            found = {str(pk) for pk in tasks.values_list("pk", flat=True)}
            missing = [t for t in task_ids if t not in found]
            if missing:
                raise CommandError(f"No such task: {', '.join(missing)}")
        if failed:
            tasks = tasks.filter(status=ProcessingTask.Status.FAILED)
        if since:
            try:
                day = datetime.strptime(since, "%Y-%m-%d").date()
            except ValueError:
                raise CommandError(f"--since {since!r} is not a date like 2026-11-01.") from None
            tasks = tasks.filter(created_at__gte=timezone.make_aware(datetime.combine(day, dtime.min)))
        new_tasks = []
        for task in tasks.order_by("created_at"):
            try:
                new = services.reprocess(task=task)
            except FileNotFoundError as exc:
                self.stderr.write(f"skipped {task.pk}: {exc}")
                continue
            new_tasks.append(new)
            self.stdout.write(f"{task.pk} → {new.pk}")
        if not new_tasks:
            self.stdout.write("Nothing to reprocess.")
            return
        if no_wait:
            return
        ids = [t.pk for t in new_tasks]
        if inline:
            for pk in ids:
                # Queue entries stay behind; a worker that picks one up later finds the task finished.
                run_task(str(pk))
        self._follow(ids, timeout)

    def _follow(self, ids: list[uuid.UUID], timeout: float) -> None:
        started = time.monotonic()
        total = 100.0 * len(ids)
        with tqdm(
            total=total,
            unit="%",
            desc=f"{len(ids)} task(s)",
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} [{elapsed}<{remaining}]",
        ) as bar:  # noqa: E501
            while True:
                rows = list(ProcessingTask.objects.filter(pk__in=ids).values_list("status", "progress"))
                done = sum(100.0 if s in ProcessingTask.FINISHED else p for s, p in rows)
                bar.update(done - bar.n)
                if all(s in ProcessingTask.FINISHED for s, _ in rows):
                    break
                if timeout and time.monotonic() - started > timeout:
                    self.stderr.write("Stopped waiting; the tasks go on in the workers.")
                    break
                time.sleep(0.5)
        for task in ProcessingTask.objects.filter(pk__in=ids).order_by("created_at"):
            line = f"{task.pk} {task.status}" + (f": {task.error}" if task.error else "")
            self.stdout.write(line)
