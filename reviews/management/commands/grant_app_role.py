"""`manage.py grant_app_role [ROLE]`: give the app's database role what it needs, and no more.

Run as the tables' owner (MIGRATE_DATABASE_URL) after every `migrate`. The role gets ordinary
DML on every table, but only SELECT and INSERT on the audit log and its heads (and SELECT on
django_migrations), plus the sequences' USAGE. It must not own the tables nor be a superuser:
either could disable the audit log's triggers. Without ROLE, the role is DATABASE_URL's user,
created with that URL's password if it does not exist yet.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from reviews.models import AuditEvent, AuditHead

from ..owner import connect_as_owner

ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
APPEND_ONLY = {AuditEvent._meta.db_table, AuditHead._meta.db_table}
READ_ONLY = {"django_migrations"}
DML = "SELECT, INSERT, UPDATE, DELETE"


def privileges(table: str) -> str:
    if table in APPEND_ONLY:
        return "SELECT, INSERT"
    return "SELECT" if table in READ_ONLY else DML


class Command(BaseCommand):
    help = "Grant the app's database role DML, but only INSERT/SELECT on the audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", nargs="?", help="the app's role (default: DATABASE_URL's)")

    def handle(self, *args: Any, **options: Any) -> None:
        app = settings.DATABASES["default"]
        role = options["role"] or app.get("USER") or ""
        if not ROLE_NAME.match(role):
            raise CommandError(f"{role!r} is not a role name this command accepts.")
        connect_as_owner()
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist on PostgreSQL only.")
        with transaction.atomic(), connection.cursor() as cursor:
            self._ensure_owner(cursor)
            self._ensure_role(cursor, role, app.get("PASSWORD") if not options["role"] else "")
            quoted = connection.ops.quote_name(role)
            cursor.execute("SELECT current_database(), current_schema()")
            database, schema = cursor.fetchone()
            cursor.execute(
                f"GRANT CONNECT ON DATABASE {connection.ops.quote_name(database)} TO {quoted}"
            )
            cursor.execute(f"GRANT USAGE ON SCHEMA {connection.ops.quote_name(schema)} TO {quoted}")
            tables = connection.introspection.table_names(cursor)
            for table in tables:
                name = connection.ops.quote_name(table)
                # Revoke first: a privilege granted by hand earlier must not survive this.
                cursor.execute(f"REVOKE ALL ON TABLE {name} FROM {quoted}")
                cursor.execute(f"GRANT {privileges(table)} ON TABLE {name} TO {quoted}")
            cursor.execute(
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "
                f"{connection.ops.quote_name(schema)} TO {quoted}"
            )
        self.stdout.write(
            f"{role}: {DML} on {len(tables) - len(APPEND_ONLY) - len(READ_ONLY)} tables, "
            f"SELECT, INSERT only on {', '.join(sorted(APPEND_ONLY))}."
        )

    def _ensure_owner(self, cursor: Any) -> None:
        # Anyone else's GRANT and REVOKE would only warn and change nothing.
        cursor.execute(
            "SELECT 1 FROM pg_tables t JOIN pg_roles r ON r.rolname = current_user"
            " WHERE t.tablename = %s AND (t.tableowner = current_user OR r.rolsuper)",
            [AuditEvent._meta.db_table],
        )
        if cursor.fetchone() is None:
            raise CommandError(
                "Run this as the tables' owner: set MIGRATE_DATABASE_URL (see README)."
            )

    def _ensure_role(self, cursor: Any, role: str, password: str) -> None:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            if not password:
                raise CommandError(f"Role {role!r} does not exist: create it (LOGIN) first.")
            cursor.execute(
                f"CREATE ROLE {connection.ops.quote_name(role)} LOGIN PASSWORD %s", [password]
            )
            self.stdout.write(f"Created role {role}.")
        elif row[0]:
            raise CommandError(f"Role {role!r} is a superuser: it could rewrite the audit log.")
        cursor.execute(
            "SELECT 1 FROM pg_tables WHERE tablename = %s AND tableowner = %s",
            [AuditEvent._meta.db_table, role],
        )
        if cursor.fetchone():
            raise CommandError(
                f"Role {role!r} owns the audit log: run migrations as another role "
                "(MIGRATE_DATABASE_URL) and give the tables to it."
            )
