"""Sync fencing: the LOST status, held sweeps and unreadable-row counts."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0003_assignment_reappeared_run"),
    ]

    operations = [
        migrations.AddField(
            model_name="assignment",
            name="sweep_held_run",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="rows_unreadable",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="sweep_base",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="sweep_held",
            field=models.IntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="status",
            field=models.CharField(
                choices=[
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("lost", "Lost"),
                ],
                default="running",
                max_length=16,
            ),
        ),
    ]
