"""Long reads of a streamed download under the web's statement timeout.

A CSV export reads its rows through a held server-side cursor, whose whole query PostgreSQL runs
in the first statement. Under the page timeout (DB_STATEMENT_TIMEOUT_MS) a large audit log or
inventory would be cancelled after the response had started, and the file would end short with
nobody told. Exports get their own, longer limit for as long as they stream, then the page's
limit is back for whatever the connection serves next.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from django.conf import settings
from django.db import connection

T = TypeVar("T")


def with_export_timeout(lines: Iterable[T]) -> Iterator[T]:
    """Yield `lines` with statement_timeout at DB_EXPORT_STATEMENT_TIMEOUT_MS, then restore."""
    if connection.vendor != "postgresql":
        yield from lines
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        previous = cursor.fetchone()[0]
        cursor.execute(
            "SET statement_timeout = %s", [max(settings.DB_EXPORT_STATEMENT_TIMEOUT_MS, 0)]
        )
    try:
        yield from lines
    finally:
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, false)", [previous])
