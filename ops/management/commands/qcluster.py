"""django-q2's qcluster, after a start-up check, with every process it forks dying with its parent."""

from __future__ import annotations

from typing import Any

from django_q.management.commands.qcluster import Command as QClusterCommand

from ops import lifecycle


class Command(QClusterCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        lifecycle.refuse_start_if_unreachable("The job workers (qcluster)")
        lifecycle.die_with_parent()
        super().handle(*args, **options)
