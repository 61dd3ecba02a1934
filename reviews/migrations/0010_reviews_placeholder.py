# Placeholder: its operations are added by the change that owns it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0009_app_permissions_in_reviews"),
    ]

    operations = []
