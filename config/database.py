"""How the web process treats its database: a statement timeout, and a clear 503 page.

A page whose query outruns DB_STATEMENT_TIMEOUT_MS is cancelled by PostgreSQL itself, so an
abandoned request (gunicorn kills its worker at 30 s) no longer leaves its query running. Workers
never call `limit_web_statements`: a sync or a large cycle start may rightly run longer.

A cancelled query, or a database that cannot be reached, answers 503 with Retry-After and a page
rendered without the request: no context processor, session or user, so nothing touches the
database that just failed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import resolve
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (or by an operator).
QUERY_CANCELED = "57014"
STATEMENT_TIMEOUT_UID = "spreview-web-statement-timeout"


def set_statement_timeout(connection: BaseDatabaseWrapper, milliseconds: int) -> None:
    """Limit every later statement of this PostgreSQL session (0 removes the limit)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = %s", [max(int(milliseconds), 0)])


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    set_statement_timeout(connection, settings.DB_STATEMENT_TIMEOUT_MS)


def limit_web_statements() -> None:
    """Give every database connection this process opens from now on the web's statement
    timeout. Called by config/wsgi.py, which gunicorn and runserver both load."""
    connection_created.connect(_on_connection_created, dispatch_uid=STATEMENT_TIMEOUT_UID)


def _timed_out(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "pgcode", None) == QUERY_CANCELED


def is_database_unavailable(exc: BaseException | None) -> bool:
    """A query cancelled by the timeout (an OperationalError too), or a database that refused,
    dropped or lost the connection: not a bug in the page, so a 503 and not a 500."""
    return isinstance(exc, OperationalError | InterfaceError)


def _page_name(request: HttpRequest) -> str:
    """The URL's name: a middleware may fail before Django resolved it."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Http404:
            return "an unknown page"
    return match.view_name


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 page for `exc`, logged by the page's name: a path can carry an email link's
    token, which must not reach the logs."""
    timed_out = _timed_out(exc)
    page = _page_name(request)
    if timed_out:
        logger.warning(
            "%s %s cancelled after the %s ms statement timeout",
            request.method,
            page,
            settings.DB_STATEMENT_TIMEOUT_MS,
        )
    else:
        logger.error("%s %s: database unavailable: %s", request.method, page, exc)
    html = render_to_string(
        "503.html",
        {"timed_out": timed_out, "timeout_seconds": settings.DB_STATEMENT_TIMEOUT_MS / 1000},
    )
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if request.headers.get("HX-Request") == "true":
        # htmx leaves a 5xx unswapped, so the click would seem to do nothing: reload instead,
        # and the full page says what is wrong.
        response["HX-Refresh"] = "true"
    # Logged above without the path; Django would log it again with it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database failure inside a view into the 503 page."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if is_database_unavailable(exc):
            return unavailable_response(request, exc)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database failure outside a view (a session saved after the response was
    built) is a 503 too; anything else is Django's plain 500."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_unavailable(exc):
        return unavailable_response(request, exc)
    return defaults.server_error(request)
