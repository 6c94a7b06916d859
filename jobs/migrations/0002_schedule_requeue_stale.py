"""Every minute, hand tasks whose worker died back to the queue (see jobs.services.requeue_stale)."""

from django.db import migrations


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="requeue-stale-tasks",
        defaults={"func": "jobs.tasks.requeue_stale", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="requeue-stale-tasks").delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(add_schedule, remove_schedule)]
