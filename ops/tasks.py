"""django-q2 entry points of the ops schedules (see ops/migrations/0001_initial.py)."""

from __future__ import annotations

from . import alerts, retention


def compute_alerts() -> str:
    firing = [a.name for a in alerts.evaluate() if a.firing]
    return f"firing: {', '.join(firing)}" if firing else "all clear"


def apply_retention() -> str:
    report = retention.apply()
    return f"purged {report.purged} task(s), freed {report.freed / 2**20:.1f} MB"
