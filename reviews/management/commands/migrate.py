"""Django's `migrate`, run as the tables' owner when MIGRATE_DATABASE_URL is set."""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from ..owner import connect_as_owner


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        connect_as_owner(options["database"])
        super().handle(*args, **options)
