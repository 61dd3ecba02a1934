"""Shared pieces of the review services: the refusal type and JSON-safe snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import (
    Campaign,
)

# Work the services ask for, by task name through the outbox: reviews.tasks imports the
# services and registers its tasks under these names, never the reverse.
APPLY_REVOCATION = "reviews.tasks.apply_revocation"
SEND_INVITATIONS = "reviews.tasks.send_invitations"
SEND_REMINDERS = "reviews.tasks.send_reminders"
SEND_COMPLETION_NOTICE = "reviews.tasks.send_completion_notice"
SEND_FAILURE_NOTICE = "reviews.tasks.send_failure_notice"

JUSTIFICATION_MAX = 2000
# Settings a cycle keeps from the moment it starts (edits apply to later cycles).
CYCLE_SETTINGS = (
    "default_decision",
    "auto_apply",
    "justification",
    "lookback_days",
    "reminder_days",
    "invitation_text",
    "reviewer_mode",
    "privileges",
    "max_tier",
)
CAMPAIGN_FIELDS = (
    "name",
    "description",
    "role_scope",
    "privileges",
    "max_tier",
    "kinds",
    "principal_types",
    "reviewer_mode",
    "start_at",
    "frequency",
    "duration_days",
    "end_mode",
    "end_date",
    "end_after_cycles",
    "reminder_days",
    "default_decision",
    "auto_apply",
    "justification",
    "lookback_days",
    "invitation_text",
)


class ReviewError(Exception):
    """A refused change, with a message meant for the person who asked for it."""


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    return {name: _json(getattr(campaign, name)) for name in CAMPAIGN_FIELDS}


def _tenant_id(campaign: Campaign) -> str:
    return campaign.tenant.tenant_id
