# EntraAccount, moved from identities (identities.0005 removes it from identities' state): the
# table identities_entraaccount already exists, so this creates the model in state only.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('identities', '0005_entraaccount_to_accounts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='EntraAccount',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_id', models.CharField(max_length=64)),
                        ('user_principal_name', models.CharField(blank=True, max_length=256)),
                        ('mail', models.CharField(blank=True, max_length=256)),
                        ('display_name', models.CharField(blank=True, max_length=256)),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='accounts', to='identities.tenant')),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='entra', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'identities_entraaccount',
                        'constraints': [models.UniqueConstraint(fields=('tenant', 'object_id'), name='account_unique_oid')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
