"""The audit log becomes a hash chain per tenant, with its heads recorded apart (AuditHead).

Existing events are chained in the order they were written (time, then id), so an old database
verifies. AuditHead is append-only like the events. On SQLite, adding a NOT NULL column rebuilds
the table and drops its triggers: they are created again here.
"""

import importlib
from itertools import groupby
from operator import itemgetter

import django.utils.timezone
from django.db import migrations, models

from reviews.audit_chain import HASHED_FIELDS, event_hash

append_only = importlib.import_module("reviews.migrations.0002_audit_append_only")

POSTGRES_GUARDS = """
CREATE OR REPLACE FUNCTION reviews_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reviews_audithead_append_only
    BEFORE UPDATE OR DELETE ON reviews_audithead
    FOR EACH ROW EXECUTE FUNCTION reviews_audit_append_only();
"""
SQLITE_GUARDS = [
    """CREATE TRIGGER reviews_audithead_no_update BEFORE UPDATE ON reviews_audithead
       BEGIN SELECT RAISE(ABORT, 'reviews_audithead is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER reviews_audithead_no_delete BEFORE DELETE ON reviews_audithead
       BEGIN SELECT RAISE(ABORT, 'reviews_audithead is append-only: DELETE refused'); END;""",
]


def _chained(apps, db):
    """(id, seq, prev_hash, hash) for every existing event, and each chain's head."""
    event = apps.get_model("reviews", "AuditEvent")
    head = apps.get_model("reviews", "AuditHead")
    stored = [f for f in HASHED_FIELDS if f not in ("seq", "prev_hash")]
    rows = event.objects.using(db).order_by("tenant_id", "at", "pk").values(*stored)
    updates, heads = [], []
    for tenant_id, chain in groupby(rows.iterator(chunk_size=2000), key=itemgetter("tenant_id")):
        digest, seq = "", 0
        for seq, values in enumerate(chain, 1):
            values.update(seq=seq, prev_hash=digest)
            digest = event_hash(values)
            updates.append((values["id"], seq, values["prev_hash"], digest))
        heads.append(head(tenant_id=tenant_id, seq=seq, hash=digest))
    return updates, heads


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    updates, heads = _chained(apps, connection.alias)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            cursor.execute(
                "ALTER TABLE reviews_auditevent DISABLE TRIGGER reviews_auditevent_append_only"
            )
            execute_values(
                cursor.cursor,
                "UPDATE reviews_auditevent AS e SET seq = v.seq, prev_hash = v.prev, hash = v.hash"
                " FROM (VALUES %s) AS v(id, seq, prev, hash) WHERE e.id = v.id",
                updates,
                page_size=1000,
            )
            cursor.execute(
                "ALTER TABLE reviews_auditevent ENABLE TRIGGER reviews_auditevent_append_only"
            )
        else:
            append_only.backward(apps, schema_editor)
            cursor.executemany(
                "UPDATE reviews_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [(seq, prev, digest, pk) for pk, seq, prev, digest in updates],
            )
    apps.get_model("reviews", "AuditHead").objects.using(connection.alias).bulk_create(heads)


def guards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_GUARDS, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        append_only.backward(apps, schema_editor)
        append_only.forward(apps, schema_editor)
        for statement in SQLITE_GUARDS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0006_apply_exactly_once"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant_id", models.CharField(blank=True, max_length=64)),
                ("seq", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant_id", "seq"], name="reviews_audithead_chain")
                ],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("tenant_id", "seq"), name="reviews_audit_chain_seq"
            ),
        ),
        migrations.RunPython(guards, migrations.RunPython.noop),
    ]
