"""Reviewers deciding: one item, recommendations in bulk, and an admin reset."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from .. import audit
from ..models import (
    DECIDED,
    Campaign,
    Cycle,
    Decision,
    ReviewItem,
)
from .common import JUSTIFICATION_MAX, ReviewError, _tenant_id

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet


def justification_problem(rule: str, decision: str, justification: str) -> str | None:
    """Why this justification is not acceptable under the rule, or None."""
    if len(justification) > JUSTIFICATION_MAX:
        return (
            f"The justification is too long ({len(justification)} characters; "
            f"at most {JUSTIFICATION_MAX})."
        )
    if justification.strip():
        return None
    if rule == Campaign.Justification.ALWAYS:
        return "A justification is required for every decision in this review."
    if rule == Campaign.Justification.ON_APPROVE and decision == Decision.APPROVE:
        return "A justification is required to approve an assignment in this review."
    return None


def reviewer_items(user: User, cycle: Cycle) -> QuerySet[ReviewItem]:
    """The items of this cycle that this user was asked to review."""
    return ReviewItem.objects.filter(cycle=cycle, reviewer_links__user=user)


def _open_cycle_for_decision(cycle_id: int, now: datetime) -> Cycle:
    cycle = Cycle.objects.select_related("campaign__tenant").get(pk=cycle_id)
    if cycle.status != Cycle.Status.ACTIVE or cycle.ends_at <= now:
        raise ReviewError("This review has ended: decisions can no longer be recorded or changed.")
    return cycle


@transaction.atomic
def record_decision(
    item_id: int, decision: str, justification: str, *, actor: User, now: datetime | None = None
) -> ReviewItem:
    """Record or change one reviewer's decision; the last decision counts."""
    now = now or timezone.now()
    if decision not in DECIDED:
        raise ReviewError("Choose approve, revoke or don't know.")
    justification = justification or ""
    item = (
        ReviewItem.objects.select_for_update()
        .filter(pk=item_id, reviewer_links__user=actor)
        .first()
    )
    if item is None:
        raise ReviewItem.DoesNotExist("No such item among your reviews.")
    # Lock the cycle row too, so a decision cannot slip in while the cycle closes.
    Cycle.objects.select_for_update().filter(pk=item.cycle_id).first()
    cycle = _open_cycle_for_decision(item.cycle_id, now)
    problem = justification_problem(cycle.setting("justification"), decision, justification)
    if problem:
        raise ReviewError(problem)
    if item.decision == decision and item.justification == justification:
        return item
    old = {"decision": item.decision, "justification": item.justification}
    item.decision = decision
    item.justification = justification
    item.decided_by = actor
    item.decided_at = now
    item.save(update_fields=["decision", "justification", "decided_by", "decided_at"])
    audit.record(
        f"reviews.decision.{decision}",
        actor=actor,
        summary=f"{item.principal_name} · {item.privilege_label}: {Decision(decision).label}"
        + (" (changed)" if old["decision"] != Decision.PENDING else ""),
        tenant_id=_tenant_id(cycle.campaign),
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        item_id=item.pk,
        object_type="assignment",
        object_id=str(item.assignment_id),
        old=old,
        new={"decision": decision, "justification": justification},
    )
    return item


@transaction.atomic
def accept_recommendations(
    cycle_id: int,
    *,
    actor: User,
    item_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> int:
    """Decide every pending item of this reviewer as recommended; returns how many."""
    now = now or timezone.now()
    Cycle.objects.select_for_update().filter(pk=cycle_id).first()
    cycle = _open_cycle_for_decision(cycle_id, now)
    pending = reviewer_items(actor, cycle).filter(decision=Decision.PENDING)
    if item_ids is not None:
        pending = pending.filter(pk__in=list(item_ids))
    items = list(pending.select_for_update().order_by("pk"))
    events = []
    for item in items:
        item.decision = item.recommendation
        item.justification = f"Accepted the recommendation: {item.recommendation_reason}"[
            :JUSTIFICATION_MAX
        ]
        item.decided_by = actor
        item.decided_at = now
        events.append(
            audit.event(
                f"reviews.decision.{item.decision}",
                actor=actor,
                summary=f"{item.principal_name} · {item.privilege_label}: "
                f"{Decision(item.decision).label} (recommendation accepted)",
                tenant_id=_tenant_id(cycle.campaign),
                campaign_id=cycle.campaign_id,
                cycle_id=cycle.pk,
                item_id=item.pk,
                object_type="assignment",
                object_id=str(item.assignment_id),
                old={"decision": Decision.PENDING, "justification": ""},
                new={"decision": item.decision, "justification": item.justification},
            )
        )
    ReviewItem.objects.bulk_update(
        items, ["decision", "justification", "decided_by", "decided_at"], batch_size=1000
    )
    audit.record_many(events)
    return len(items)


@transaction.atomic
def reset_decisions(cycle_id: int, *, actor: User, now: datetime | None = None) -> int:
    """Admin: every decision of an open cycle back to pending (each reset is audited)."""
    now = now or timezone.now()
    Cycle.objects.select_for_update().filter(pk=cycle_id).first()
    cycle = _open_cycle_for_decision(cycle_id, now)
    decided = list(
        cycle.items.exclude(decision=Decision.PENDING).values(
            "pk", "decision", "justification", "assignment_id"
        )
    )
    cycle.items.exclude(decision=Decision.PENDING).update(
        decision=Decision.PENDING, justification="", decided_by=None, decided_at=None
    )
    audit.record_many(
        audit.event(
            "reviews.decision.reset",
            actor=actor,
            summary="Decision reset by an admin",
            tenant_id=_tenant_id(cycle.campaign),
            campaign_id=cycle.campaign_id,
            cycle_id=cycle.pk,
            item_id=row["pk"],
            object_type="assignment",
            object_id=str(row["assignment_id"]),
            old={"decision": row["decision"], "justification": row["justification"]},
            new={"decision": Decision.PENDING},
        )
        for row in decided
    )
    return len(decided)
