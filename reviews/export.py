"""Evidence downloads: a cycle's results and the audit log as CSV, safe to open in a spreadsheet.

Cells go through `identities.export.csv_cell`, which defuses formula triggers in names that
came from Graph.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from accounts.people import person_label
from identities.bidi import isolate_text
from identities.credentials import who_can_act
from identities.export import csv_cell
from identities.streaming import with_export_timeout

from .audit_chain import current_head, head_line
from .models import ApplyStatus, AuditEvent, Cycle, Decision, Outcome, Recommendation, ReviewItem
from .privileges import privilege_type_words, tier_words

RESULTS_HEADER = (
    "principal",
    "appId",
    "type",
    "role",
    "scope",
    "kind",
    "privilege type",
    "API",
    "tier",
    "tier reason",
    "owners",
    "credentials",
    "recommendation",
    "decision",
    "justification",
    "reviewed by",
    "reviewed at",
    "outcome",
    "applied at",
    "apply result",
)
AUDIT_HEADER = (
    "at",
    "actor",
    "action",
    "campaign id",
    "cycle id",
    "item id",
    "object type",
    "object id",
    "summary",
    "old",
    "new",
)


def _label(choices: Any, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def apply_result(item: ReviewItem) -> str:
    """The apply status in words, with Graph's error code and message when it failed."""
    if not item.outcome:
        return ""
    text = _label(ApplyStatus, item.apply_status)
    if item.apply_error_code or item.apply_error:
        detail = ": ".join(part for part in (item.apply_error_code, item.apply_error) if part)
        text = f"{text} ({detail})"
    return text


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else "no end date"


def who_can_act_cells(item: ReviewItem, now: datetime) -> tuple[str, str]:
    """Who can act as the item's principal, today: its owners and those of its app
    registration, and every credential of either with its kind and end ("; "-separated)."""
    who = who_can_act(item.principal, now)
    # Each entry is isolated so that a right-to-left name cannot reorder its neighbours.
    owners = "; ".join(
        isolate_text(f"{o.upn or o.display_name or o.id} ({o.owns})") for o in who.owners
    )
    credentials = [
        isolate_text(
            f"{held.row.kind} {held.row.display_name or held.row.key_id} on the {held.held_by}, "
            f"ends {_day(held.row.end)}"
        )
        for held in who.credentials
    ]
    credentials += [
        isolate_text(f"federated credential {f.name or f.id}: {f.issuer}") for f in who.federated
    ]
    return owners, "; ".join(credentials)


def results_row(item: ReviewItem, now: datetime | None = None) -> list[str]:
    owners, credentials = who_can_act_cells(item, now or timezone.now())
    return [
        csv_cell(value)
        for value in (
            item.principal_name,
            item.principal_app_id,
            item.principal_type,
            item.role_name,
            item.scope_label,
            item.kind,
            privilege_type_words(item.privilege_type),
            item.resource_name if item.is_app_permission else "",
            tier_words(item.tier),
            item.tier_reason,
            owners,
            credentials,
            _label(Recommendation, item.recommendation),
            _label(Decision, item.decision),
            item.justification,
            person_label(item.decided_by) if item.decided_by_id else "",
            item.decided_at,
            _label(Outcome, item.outcome) if item.outcome else "",
            item.applied_at,
            apply_result(item),
        )
    ]


def audit_row(event: AuditEvent) -> list[str]:
    return [
        csv_cell(value)
        for value in (
            event.at,
            event.actor_label,
            event.action,
            event.campaign_id,
            event.cycle_id,
            event.item_id,
            event.object_type,
            event.object_id,
            event.summary,
            "" if event.old is None else json.dumps(event.old, sort_keys=True),
            "" if event.new is None else json.dumps(event.new, sort_keys=True),
        )
    ]


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _lines(header: Sequence[str], rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The BOM makes Excel read the file as UTF-8 (names are often not ASCII).
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def _response(lines: Iterator[str], name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        with_export_timeout(lines), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="spreview-{name}-{stamp}.csv"'
    return response


def chain_head_row(tenant_id: str) -> list[str]:
    """The audit chain's head as the file's last row, read after the items: whoever keeps the
    file can later check (`verify_audit --expect TENANT:SEQ:HASH`) that the log still holds it."""
    seq, digest = current_head(tenant_id)
    row = ["audit chain head", csv_cell(head_line(tenant_id, seq, digest))]
    return row + [""] * (len(RESULTS_HEADER) - len(row))


def _results_rows(items: QuerySet[ReviewItem], tenant_id: str) -> Iterator[list[str]]:
    now = timezone.now()
    for item in items.iterator(chunk_size=2000):
        yield results_row(item, now)
    yield chain_head_row(tenant_id)


def results_csv_response(cycle: Cycle, items: QuerySet[ReviewItem]) -> StreamingHttpResponse:
    rows = _results_rows(items, cycle.campaign.tenant.tenant_id)
    return _response(_lines(RESULTS_HEADER, rows), f"results-{cycle.campaign_id}-{cycle.number}")


def audit_csv_response(events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    rows = (audit_row(event) for event in events.iterator(chunk_size=2000))
    return _response(_lines(AUDIT_HEADER, rows), "audit")
