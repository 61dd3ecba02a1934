"""The inventory as CSV: one row per privilege held (a directory role or an application
permission), streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from .bidi import isolate_text
from .credentials import APPLICATION, PRINCIPAL, owner_rows
from .models import Assignment, ServicePrincipal
from .streaming import with_export_timeout

CSV_HEADER = (
    "principal display name",
    "object id",
    "appId",
    "type",
    "enabled",
    "multi-tenant",
    "role",
    "role id",
    "scope",
    "kind",
    "granted via",
    "expires",
    "owners",
    "owner UPNs",
    "last sign-in",
    "first seen",
    "last seen",
    # Added with application permissions: kept last so existing column positions hold.
    "privilege type",
    "API",
    "tier",
    "tier reason",
)
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Query parameters that shape the page, not the rows; the export leaves them out.
PAGE_ONLY_PARAMETERS = ("page", "per_page", "sort")


def inventory_export_url(query: QueryDict) -> str:
    """The export link for an inventory page: the same filters, without paging and sorting."""
    export_query = query.copy()
    for name in PAGE_ONLY_PARAMETERS:
        export_query.pop(name, None)
    url = reverse("identities:inventory_export")
    return url + "?" + export_query.urlencode() if export_query else url


def csv_cell(value: Any) -> str:
    """Text for one CSV cell, with formula triggers neutralised by a leading apostrophe."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _owner_names(principal: ServicePrincipal) -> str:
    # Owners that are not users (service principals) have no UPN; their name is the next best.
    # Several names share this cell: each is isolated, so a right-to-left override in one cannot
    # reorder the others. A cell holding one name keeps it exactly as Graph gave it: a
    # spreadsheet lays out every cell on its own, so there is nothing next to it to disturb.
    owners = owner_rows(principal.owners, PRINCIPAL)
    if principal.application is not None:
        owners += owner_rows(principal.application.owners, APPLICATION)
    names = dict.fromkeys(owner.upn or owner.display_name or owner.id for owner in owners)
    return "; ".join(isolate_text(name) for name in names)


def _last_sign_in(principal: ServicePrincipal) -> str | datetime:
    if not principal.sign_in_known:
        return "unknown"
    return principal.last_sign_in_at or "never"


def inventory_csv_row(assignment: Assignment) -> list[str]:
    principal, role = assignment.principal, assignment.role
    return [
        csv_cell(value)
        for value in (
            principal.display_name,
            principal.object_id,
            principal.app_id,
            principal.sp_type,
            principal.account_enabled,
            principal.is_multi_tenant,
            role.display_name,
            role.object_id,
            assignment.scope_label,
            assignment.kind,
            assignment.granted_via,
            assignment.expires_at,
            assignment.owners_of_both,
            _owner_names(principal),
            _last_sign_in(principal),
            assignment.first_seen_at,
            assignment.last_seen_at,
            role.privilege_type,
            role.resource_name,
            "unclassified" if role.tier is None else role.tier,
            role.tier_reason,
        )
    ]


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def inventory_csv_lines(assignments: Iterable[Assignment]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The BOM makes Excel read the file as UTF-8 (names are often not ASCII).
    yield "\ufeff" + writer.writerow(CSV_HEADER)
    for assignment in assignments:
        yield writer.writerow(inventory_csv_row(assignment))


def inventory_csv_response(assignments: QuerySet[Assignment]) -> StreamingHttpResponse:
    """The assignments as a CSV download, read in chunks so a large tenant never sits in memory."""
    lines = with_export_timeout(inventory_csv_lines(assignments.iterator(chunk_size=2000)))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="spreview-inventory-{stamp}.csv"'
    return response
