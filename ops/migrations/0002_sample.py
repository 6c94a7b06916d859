from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ops", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Sample",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(db_index=True)),
                ("queue_depth", models.PositiveIntegerField(default=0)),
                ("running", models.PositiveIntegerField(default=0)),
                ("disk_free_bytes", models.BigIntegerField(default=0)),
            ],
            options={"ordering": ["at"]},
        ),
    ]
