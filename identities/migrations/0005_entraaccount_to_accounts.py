# EntraAccount moved to the accounts app: it leaves identities' state only. Its table
# (identities_entraaccount) and rows stay where they are; accounts.0001_initial takes it over.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('identities', '0004_sync_fencing'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='EntraAccount')],
            database_operations=[],
        ),
    ]
