"""The tables' owner for schema work: `migrate` and `grant_app_role` connect with
MIGRATE_DATABASE_URL when it is set, so the app's own role (DATABASE_URL) never needs to own the
tables, and so cannot disable the audit log's triggers."""

from __future__ import annotations

import environ
from django.conf import settings
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

OWNER_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


def connect_as_owner(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Point this process's connection at the owner's credentials; False when none are set.

    Only the credentials are taken: a MIGRATE_DATABASE_URL naming another database than the
    connection's (say, a test database) is refused rather than migrating the wrong one.
    """
    url = settings.MIGRATE_DATABASE_URL
    if not url or alias != DEFAULT_DB_ALIAS:
        return False
    try:
        owner = environ.Env.db_url_config(url)
    except Exception as exc:
        raise CommandError(f"MIGRATE_DATABASE_URL is not a database URL: {exc}") from None
    connection = connections[alias]
    if owner.get("NAME") != connection.settings_dict["NAME"]:
        raise CommandError(
            f"MIGRATE_DATABASE_URL names database {owner.get('NAME')!r}, but the app uses "
            f"{connection.settings_dict['NAME']!r}: they must be the same database."
        )
    connection.close()
    # A new dict: settings.DATABASES (the app's credentials) stays as it was.
    connection.settings_dict = {
        **connection.settings_dict,
        **{key: owner[key] for key in OWNER_KEYS if key in owner},
    }
    return True
