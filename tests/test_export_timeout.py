"""A CSV download streams under its own statement limit, not the page's one."""

from __future__ import annotations

import pytest
from django.db import connection

from config.database import set_statement_timeout
from identities.streaming import with_export_timeout


def show_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_an_export_reads_under_the_export_limit_then_the_page_limit_is_back(settings):
    settings.DB_EXPORT_STATEMENT_TIMEOUT_MS = 120_000
    set_statement_timeout(connection, 250)
    seen = []

    def lines():
        seen.append(show_timeout())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.4)")  # longer than the page may take
        yield "done"

    try:
        assert list(with_export_timeout(lines())) == ["done"]
        assert seen == ["2min"]
        assert show_timeout() == "250ms"
    finally:
        set_statement_timeout(connection, 0)


@pytest.mark.django_db
def test_an_export_abandoned_midway_restores_the_page_limit(settings):
    settings.DB_EXPORT_STATEMENT_TIMEOUT_MS = 60_000
    set_statement_timeout(connection, 300)
    stream = with_export_timeout(iter(["a", "b"]))
    try:
        assert next(stream) == "a"
        stream.close()
        assert show_timeout() == "300ms"
    finally:
        set_statement_timeout(connection, 0)
