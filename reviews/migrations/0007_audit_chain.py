# Placeholder: its operations are added by the change that owns it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0006_apply_exactly_once"),
    ]

    operations = []
