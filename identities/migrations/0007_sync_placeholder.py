# Placeholder: its operations are added by the change that owns it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0006_privileges_and_app_registrations"),
    ]

    operations = []
