"""Secrets and certificates of a service principal as a reviewer reads them: dates and status.

The sync stores credential metadata as JSON; a bad item or date must show as "unknown", never
break the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .graph.values import graph_datetime

EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class CredentialRow:
    kind: str
    display_name: str
    key_id: str
    type: str
    usage: str
    start: datetime | None
    end: datetime | None
    end_raw: str
    status: str  # expired | expiring | valid | unknown
    days_left: int | None


def credential_status(end: datetime | None, now: datetime) -> tuple[str, int | None]:
    """The status of a credential ending at `end`, and its whole days left while not expired."""
    if end is None:
        return "unknown", None
    if end <= now:
        return "expired", None
    left = end - now
    status = "expiring" if left <= timedelta(days=EXPIRY_WARNING_DAYS) else "valid"
    return status, left.days  # 0 means under a day


def credential_row(item: dict[str, Any], now: datetime) -> CredentialRow:
    end = graph_datetime(item.get("end"))
    status, days_left = credential_status(end, now)
    return CredentialRow(
        kind=str(item.get("kind") or ""),
        display_name=str(item.get("displayName") or ""),
        key_id=str(item.get("keyId") or ""),
        type=str(item.get("type") or ""),
        usage=str(item.get("usage") or ""),
        start=graph_datetime(item.get("start")),
        end=end,
        # Shown when the end is not a date, so a reviewer sees what Graph (or a bad sync) wrote.
        end_raw="" if item.get("end") is None else str(item.get("end")),
        status=status,
        days_left=days_left,
    )


def credential_rows(items: Any, now: datetime) -> list[CredentialRow]:
    """Rows for the dict items of a stored credential list, soonest expiry first, unknown last."""
    if not isinstance(items, list):
        return []
    rows = [credential_row(item, now) for item in items if isinstance(item, dict)]
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda row: row.end or far_future)
