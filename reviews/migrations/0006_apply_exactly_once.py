# Exactly-once removals across crashes: the PIM schedule each item reviewed, when its first
# removal request was sent, and the status of a privilege re-granted while it was applied.

from django.db import migrations, models

# Items snapshotted before this migration take the schedule id their assignment has now.
BACKFILL_SCHEDULE_IDS = """
UPDATE reviews_reviewitem AS item SET schedule_id = assignment.schedule_id
FROM identities_assignment AS assignment
WHERE assignment.id = item.assignment_id AND assignment.schedule_id <> ''
"""


def backfill_schedule_ids(apps, schema_editor):
    ReviewItem = apps.get_model("reviews", "ReviewItem")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL_SCHEDULE_IDS)
        return
    for item in ReviewItem.objects.exclude(assignment__schedule_id="").select_related("assignment"):
        item.schedule_id = item.assignment.schedule_id
        item.save(update_fields=["schedule_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0005_reviewitem_regranted_at"),
        ("identities", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewitem",
            name="schedule_id",
            field=models.CharField(blank=True, max_length=256),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="removal_sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="reviewitem",
            name="apply_status",
            field=models.CharField(
                choices=[
                    ("not_needed", "Nothing to apply"),
                    ("pending", "Waiting for apply"),
                    ("queued", "Queued"),
                    ("applying", "Applying"),
                    ("applied", "Removed"),
                    ("already_gone", "Already gone"),
                    ("failed", "Failed"),
                    ("manual", "To do in Entra ID"),
                    ("regranted", "Re-granted during apply — left in place"),
                ],
                default="not_needed",
                max_length=16,
            ),
        ),
        migrations.RunPython(backfill_schedule_ids, migrations.RunPython.noop),
    ]
