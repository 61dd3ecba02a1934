"""Every state change of a review, as one named function (one module per stage).

Each one runs in a transaction, locks the row it changes, re-reads it, returns early when the
state already matches, and writes its audit event in the same transaction. Views and tasks call
these and nothing else; Graph is reached only from `apply_item`, through `identities.graph`.
"""

from __future__ import annotations

from .apply import (
    APPLIED,
    FAILED,
    REGRANTED,
    RETRY,
    TODO,
    apply_item,
    claim_item,
    privilege_of,
    request_apply,
    requeue_stalled,
    resend_queued,
    retry_failed,
)
from .campaigns import (
    create_campaign,
    set_campaign_paused,
    update_campaign,
)
from .common import (
    CAMPAIGN_FIELDS,
    CYCLE_SETTINGS,
    JUSTIFICATION_MAX,
    ReviewError,
)
from .cycles import (
    close_cycle,
    close_due_cycles,
    request_reminders,
    start_cycle,
    start_due_cycles,
    stop_cycle,
)
from .decisions import (
    accept_recommendations,
    justification_problem,
    record_decision,
    reset_decisions,
    reviewer_items,
)
from .sync_removals import (
    record_regrants,
    record_sync_removals,
)

__all__ = [
    "APPLIED",
    "CAMPAIGN_FIELDS",
    "CYCLE_SETTINGS",
    "FAILED",
    "JUSTIFICATION_MAX",
    "REGRANTED",
    "RETRY",
    "TODO",
    "ReviewError",
    "accept_recommendations",
    "apply_item",
    "claim_item",
    "close_cycle",
    "close_due_cycles",
    "create_campaign",
    "justification_problem",
    "privilege_of",
    "record_decision",
    "record_regrants",
    "record_sync_removals",
    "request_apply",
    "request_reminders",
    "requeue_stalled",
    "resend_queued",
    "reset_decisions",
    "retry_failed",
    "reviewer_items",
    "set_campaign_paused",
    "start_cycle",
    "start_due_cycles",
    "stop_cycle",
    "update_campaign",
]
