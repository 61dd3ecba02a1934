"""The audit log refuses UPDATE and DELETE at the database, whoever asks (ORM, SQL, admin).

TRUNCATE stays possible on PostgreSQL: it is the database owner's tool (test teardown uses it),
not something the application or its admin pages can issue."""

from django.db import migrations

POSTGRES = """
CREATE OR REPLACE FUNCTION reviews_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'reviews_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reviews_auditevent_append_only
    BEFORE UPDATE OR DELETE ON reviews_auditevent
    FOR EACH ROW EXECUTE FUNCTION reviews_audit_append_only();
"""
POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS reviews_auditevent_append_only ON reviews_auditevent;
DROP FUNCTION IF EXISTS reviews_audit_append_only();
"""
SQLITE = [
    """CREATE TRIGGER reviews_auditevent_no_update BEFORE UPDATE ON reviews_auditevent
       BEGIN SELECT RAISE(ABORT, 'reviews_auditevent is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER reviews_auditevent_no_delete BEFORE DELETE ON reviews_auditevent
       BEGIN SELECT RAISE(ABORT, 'reviews_auditevent is append-only: DELETE refused'); END;""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS reviews_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS reviews_auditevent_no_delete;",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_REVERSE, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
