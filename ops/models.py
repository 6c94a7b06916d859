from __future__ import annotations

from django.db import models


class AlertQuerySet(models.QuerySet["Alert"]):
    def firing(self) -> AlertQuerySet:
        return self.filter(firing=True)


class Alert(models.Model):
    """One health rule's last verdict, written by the `compute-alerts` schedule (ops.alerts.evaluate).

    One row per rule: `since` is when it started firing (kept while it stays on), `checked_at` when the
    schedule last looked, so a stale row says the schedule itself stopped.
    """

    name = models.CharField(max_length=50, unique=True)
    firing = models.BooleanField(default=False)
    message = models.CharField(max_length=500, blank=True)
    value = models.FloatField(default=0)
    since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField()

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {'FIRING ' + self.message if self.firing else 'ok'}"


class Sample(models.Model):
    """One minute's snapshot of what has no history in other rows (queue depth, disk, running tasks), written
    by the `compute-alerts` schedule for the dashboard's plots; kept SAMPLE_DAYS."""

    at = models.DateTimeField(db_index=True)
    queue_depth = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0)
    disk_free_bytes = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["at"]
