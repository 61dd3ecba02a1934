"""Recommendations from the principal's own evidence, each with the reason a reviewer reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

REVOKE, APPROVE = "revoke", "approve"


def _end(credential: dict[str, Any]) -> datetime | None:
    value = credential.get("end")
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def recommend(principal: Any, now: datetime, lookback_days: int) -> tuple[str, str]:
    """(recommendation, reason) for one service principal holding a privileged role.

    Revoke when it is disabled, has not signed in within the look-back, never signed in, or
    holds only expired credentials; approve otherwise. Sign-in evidence is used only where the
    sync could read it: unknown activity never counts as inactivity.
    """
    if not principal.account_enabled:
        return REVOKE, "The service principal is disabled: it cannot use this role."
    if principal.sign_in_known:
        last = principal.last_sign_in_at
        if last is None:
            return REVOKE, "Never signed in (as far as Entra ID's sign-in activity goes back)."
        if last < now - timedelta(days=lookback_days):
            days = (now - last).days
            return (
                REVOKE,
                f"No sign-in in the last {lookback_days} days (last one {days} days ago).",
            )
    credentials = [c for c in principal.credentials or [] if isinstance(c, dict)]
    ends = [_end(c) for c in credentials]
    if credentials and all(end is not None and end <= now for end in ends):
        return REVOKE, "Every secret and certificate has expired: it can no longer sign in."
    if principal.sign_in_known:
        return APPROVE, f"Signed in within the last {lookback_days} days."
    return APPROVE, "No evidence against it (sign-in activity is not available)."
