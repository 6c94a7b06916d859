"""The Alert table, and the two ops schedules: alerts every minute, retention once a day."""

from django.db import migrations, models

SCHEDULES = {
    "compute-alerts": {"func": "ops.tasks.compute_alerts", "schedule_type": "I", "minutes": 1, "repeats": -1},
    "apply-retention": {"func": "ops.tasks.apply_retention", "schedule_type": "D", "repeats": -1},
}


def add_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults=fields)


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    initial = True
    dependencies = [("django_q", "0018_task_success_index")]
    operations = [
        migrations.CreateModel(
            name="Alert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=50, unique=True)),
                ("firing", models.BooleanField(default=False)),
                ("message", models.CharField(blank=True, max_length=500)),
                ("value", models.FloatField(default=0)),
                ("since", models.DateTimeField(blank=True, null=True)),
                ("checked_at", models.DateTimeField()),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.RunPython(add_schedules, remove_schedules),
    ]
