# Placeholder: its operations are added by the change that owns it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0003_assignment_reappeared_run"),
    ]

    operations = []
