"""Every state change of a review, as one named function.

Each one runs in a transaction, locks the row it changes, re-reads it, returns early when the
state already matches, and writes its audit event in the same transaction. Views and tasks call
these and nothing else; Graph is reached only from `apply_item`, through `identities.graph`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone

from identities.graph.errors import GraphError
from identities.graph.removals import ALREADY_GONE, Privilege
from identities.models import Assignment, ServicePrincipal
from identities.people import user_owners, users_for_entra

from . import audit, schedule
from .models import (
    ApplyStatus,
    Campaign,
    Cycle,
    Decision,
    ItemReviewer,
    Outcome,
    Recommendation,
    ReviewItem,
)
from .recommend import recommend

logger = logging.getLogger(__name__)

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
)
CAMPAIGN_FIELDS = (
    "name",
    "description",
    "role_scope",
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


# --------------------------------------------------------------------------- campaigns


def _next_start(campaign: Campaign) -> datetime | None:
    return schedule.next_start(
        campaign.start_at,
        campaign.frequency,
        campaign.cycles_started,
        end_mode=campaign.end_mode,
        end_date=campaign.end_date,
        end_after=campaign.end_after_cycles,
    )


@transaction.atomic
def create_campaign(campaign: Campaign, *, roles: Iterable, reviewers: Iterable, actor) -> Campaign:
    """Save a validated, unsaved campaign and schedule its first cycle."""
    campaign.created_by = actor
    campaign.created_at = campaign.updated_at = timezone.now()
    campaign.cycles_started = 0
    campaign.status = Campaign.Status.ACTIVE
    campaign.next_start_at = _next_start(campaign)
    campaign.save()
    campaign.roles.set(roles)
    campaign.reviewers.set(reviewers)
    audit.record(
        "reviews.campaign.created",
        actor=actor,
        summary=f"Campaign {campaign.name} created",
        tenant_id=_tenant_id(campaign),
        campaign_id=campaign.pk,
        new={
            **_snapshot(campaign),
            "roles": sorted(r.display_name for r in campaign.roles.all()),
            "reviewers": sorted(u.get_username() for u in campaign.reviewers.all()),
        },
    )
    return campaign


@transaction.atomic
def update_campaign(
    campaign_id: int, changes: dict[str, Any], *, roles: Iterable, reviewers: Iterable, actor
) -> Campaign:
    """Apply edited settings; they take effect from the next cycle on."""
    campaign = Campaign.objects.select_for_update().select_related("tenant").get(pk=campaign_id)
    if campaign.status == Campaign.Status.ENDED:
        raise ReviewError("This campaign has ended; create a new one instead.")
    old = {
        **_snapshot(campaign),
        "roles": sorted(r.display_name for r in campaign.roles.all()),
        "reviewers": sorted(u.get_username() for u in campaign.reviewers.all()),
    }
    for name in CAMPAIGN_FIELDS:
        if name in changes:
            setattr(campaign, name, changes[name])
    campaign.updated_at = timezone.now()
    if campaign.status == Campaign.Status.ACTIVE:
        campaign.next_start_at = _next_start(campaign)
    campaign.save()
    campaign.roles.set(roles)
    campaign.reviewers.set(reviewers)
    new = {
        **_snapshot(campaign),
        "roles": sorted(r.display_name for r in campaign.roles.all()),
        "reviewers": sorted(u.get_username() for u in campaign.reviewers.all()),
    }
    changed = {k for k in new if new[k] != old[k]}
    if changed:
        audit.record(
            "reviews.campaign.edited",
            actor=actor,
            summary=f"Campaign {campaign.name} edited: {', '.join(sorted(changed))}",
            tenant_id=_tenant_id(campaign),
            campaign_id=campaign.pk,
            old={k: old[k] for k in changed},
            new={k: new[k] for k in changed},
        )
    return campaign


@transaction.atomic
def set_campaign_paused(campaign_id: int, paused: bool, *, actor) -> Campaign:
    """Pause (no new cycles start) or resume; a running cycle is not touched."""
    campaign = Campaign.objects.select_for_update().select_related("tenant").get(pk=campaign_id)
    wanted = Campaign.Status.PAUSED if paused else Campaign.Status.ACTIVE
    if campaign.status == wanted:
        return campaign
    if campaign.status == Campaign.Status.ENDED:
        raise ReviewError("This campaign has ended.")
    old = campaign.status
    campaign.status = wanted
    if not paused:
        # Resuming does not replay missed cycles: the next one is the next due start.
        campaign.next_start_at = _next_start(campaign)
    campaign.save(update_fields=["status", "next_start_at"])
    audit.record(
        "reviews.campaign.paused" if paused else "reviews.campaign.resumed",
        actor=actor,
        summary=f"Campaign {campaign.name} {'paused' if paused else 'resumed'}",
        tenant_id=_tenant_id(campaign),
        campaign_id=campaign.pk,
        old={"status": old},
        new={"status": wanted},
    )
    return campaign


# --------------------------------------------------------------------------- starting cycles


def _in_scope(campaign: Campaign):
    assignments = Assignment.objects.current().filter(
        tenant=campaign.tenant, role__is_privileged=True, principal__deleted_at__isnull=True
    )
    if campaign.role_scope == Campaign.RoleScope.SELECTED:
        assignments = assignments.filter(role__in=campaign.roles.all())
    if campaign.kinds != Campaign.Kinds.BOTH:
        assignments = assignments.filter(kind=campaign.kinds)
    if campaign.principal_types:
        assignments = assignments.filter(principal__sp_type__in=campaign.principal_types)
    return assignments.select_related("principal", "role").order_by("pk")


def _first_reminder(cycle: Cycle, reminder_days: list[int], now: datetime) -> datetime | None:
    moments = sorted(cycle.ends_at - timedelta(days=d) for d in reminder_days)
    return next((m for m in moments if m > now), None)


def start_due_cycles(now: datetime | None = None) -> list[int]:
    """Start a cycle for every active campaign whose next start has come; ids of new cycles."""
    now = now or timezone.now()
    due = Campaign.objects.filter(status=Campaign.Status.ACTIVE, next_start_at__lte=now)
    started = []
    for campaign_id in due.values_list("pk", flat=True):
        cycle = start_cycle(campaign_id, now=now)
        if cycle is not None:
            started.append(cycle.pk)
    return started


@transaction.atomic
def start_cycle(campaign_id: int, *, now: datetime | None = None, actor=None) -> Cycle | None:
    """Snapshot the campaign's in-scope assignments into a new cycle, if one is due.

    A constant number of statements whatever the number of assignments: one read of the
    assignments with their principals, two bulk inserts (items, reviewer links), plus the users
    created for owners who had none.
    """
    now = now or timezone.now()
    campaign = (
        Campaign.objects.select_for_update().select_related("tenant").filter(pk=campaign_id).first()
    )
    if campaign is None or campaign.status != Campaign.Status.ACTIVE:
        return None
    if campaign.next_start_at is None or campaign.next_start_at > now:
        return None
    if campaign.cycles.filter(status=Cycle.Status.ACTIVE).exists():
        # The previous cycle is still open (its end is due in this same tick): close it first.
        for open_cycle in campaign.cycles.filter(status=Cycle.Status.ACTIVE):
            close_cycle(open_cycle.pk, now=now)
    index = schedule.latest_due(campaign.start_at, campaign.frequency, campaign.cycles_started, now)
    scheduled_at = schedule.nth_start(campaign.start_at, campaign.frequency, index) or now
    settings_now = {name: _json(getattr(campaign, name)) for name in CYCLE_SETTINGS}
    cycle = Cycle.objects.create(
        campaign=campaign,
        number=campaign.cycles.count() + 1,
        status=Cycle.Status.ACTIVE,
        scheduled_at=scheduled_at,
        starts_at=now,
        ends_at=now + timedelta(days=campaign.duration_days),
        frozen_settings=settings_now,
    )
    cycle.next_reminder_at = _first_reminder(cycle, campaign.reminder_days or [], now)
    cycle.save(update_fields=["next_reminder_at"])

    assignments = list(_in_scope(campaign))
    items = []
    for a in assignments:
        principal = a.principal
        rec, reason = recommend(principal, now, campaign.lookback_days)
        items.append(
            ReviewItem(
                cycle=cycle,
                assignment=a,
                principal=principal,
                principal_object_id=principal.object_id,
                principal_app_id=principal.app_id,
                principal_name=principal.display_name,
                principal_type=principal.sp_type,
                role_object_id=a.role.object_id,
                role_name=a.role.display_name,
                directory_scope_id=a.directory_scope_id,
                kind=a.kind,
                granted_via=a.granted_via,
                role_assignment_id=a.role_assignment_id,
                recommendation=rec,
                recommendation_reason=reason,
            )
        )
    ReviewItem.objects.bulk_create(items, batch_size=2000)
    _link_reviewers(campaign, items, [a.principal for a in assignments])

    campaign.cycles_started = index + 1
    campaign.next_start_at = _next_start(campaign)
    if campaign.next_start_at is None:
        campaign.status = Campaign.Status.ENDED
    campaign.save(update_fields=["cycles_started", "next_start_at", "status"])
    audit.record(
        "reviews.cycle.started",
        actor=actor,
        summary=f"{campaign.name} #{cycle.number} started with {len(items)} items",
        tenant_id=_tenant_id(campaign),
        campaign_id=campaign.pk,
        cycle_id=cycle.pk,
        new={
            "items": len(items),
            "starts_at": _json(cycle.starts_at),
            "ends_at": _json(cycle.ends_at),
            "scheduled_at": _json(scheduled_at),
        },
    )
    from .tasks import enqueue_invitations  # tasks import services; keep the cycle one-way

    enqueue_invitations(cycle.pk)
    return cycle


def _link_reviewers(
    campaign: Campaign, items: list[ReviewItem], principals: list[ServicePrincipal]
) -> None:
    named = list(campaign.reviewers.values_list("pk", flat=True))
    links: list[ItemReviewer] = []
    if campaign.reviewer_mode == Campaign.ReviewerMode.NAMED:
        for item in items:
            links.extend(ItemReviewer(item=item, user_id=u, source="named") for u in named)
    else:
        owners_by_item = [user_owners(p.owners) for p in principals]
        people = {o["id"]: o for owners in owners_by_item for o in owners}
        user_ids = users_for_entra(campaign.tenant, people.values())
        for item, owners in zip(items, owners_by_item, strict=True):
            owner_users = sorted({user_ids[o["id"]] for o in owners if o["id"] in user_ids})
            if owner_users:
                links.extend(
                    ItemReviewer(item=item, user_id=u, source="owner") for u in owner_users
                )
            else:
                links.extend(ItemReviewer(item=item, user_id=u, source="fallback") for u in named)
    ItemReviewer.objects.bulk_create(links, batch_size=5000)


# --------------------------------------------------------------------------- deciding


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


def reviewer_items(user, cycle: Cycle):
    """The items of this cycle that this user was asked to review."""
    return ReviewItem.objects.filter(cycle=cycle, reviewer_links__user=user)


def _open_cycle_for_decision(cycle_id: int, now: datetime) -> Cycle:
    cycle = Cycle.objects.select_related("campaign__tenant").get(pk=cycle_id)
    if cycle.status != Cycle.Status.ACTIVE or cycle.ends_at <= now:
        raise ReviewError("This review has ended: decisions can no longer be recorded or changed.")
    return cycle


@transaction.atomic
def record_decision(
    item_id: int, decision: str, justification: str, *, actor, now: datetime | None = None
) -> ReviewItem:
    """Record or change one reviewer's decision; the last decision counts."""
    now = now or timezone.now()
    if decision not in (Decision.APPROVE, Decision.REVOKE, Decision.DONT_KNOW):
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
        summary=f"{item.principal_name} · {item.role_name}: {Decision(decision).label}"
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
    cycle_id: int, *, actor, item_ids: Iterable[int] | None = None, now: datetime | None = None
) -> int:
    """Decide every pending item of this reviewer as recommended; returns how many."""
    now = now or timezone.now()
    Cycle.objects.select_for_update().filter(pk=cycle_id).first()
    cycle = _open_cycle_for_decision(cycle_id, now)
    items = reviewer_items(actor, cycle).filter(decision=Decision.PENDING)
    if item_ids is not None:
        items = items.filter(pk__in=list(item_ids))
    items = list(items.select_for_update().order_by("pk"))
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
                summary=f"{item.principal_name} · {item.role_name}: "
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
def reset_decisions(cycle_id: int, *, actor, now: datetime | None = None) -> int:
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


# --------------------------------------------------------------------------- closing


@transaction.atomic
def close_cycle(
    cycle_id: int, *, actor=None, stopped: bool = False, now: datetime | None = None
) -> Cycle:
    """End the review: undecided items take the default, every outcome is fixed.

    Five UPDATE statements whatever the cycle's size. With auto-apply, the revocations are
    queued in the same transaction.
    """
    now = now or timezone.now()
    cycle = Cycle.objects.select_for_update().select_related("campaign__tenant").get(pk=cycle_id)
    if cycle.status != Cycle.Status.ACTIVE:
        return cycle
    default = cycle.setting("default_decision")
    items = cycle.items.all()
    items.filter(decision=Decision.APPROVE).update(outcome=Outcome.KEEP, outcome_source="decision")
    items.filter(decision=Decision.REVOKE).update(outcome=Outcome.REVOKE, outcome_source="decision")
    undecided = items.filter(decision__in=(Decision.PENDING, Decision.DONT_KNOW))
    source = f"default:{default}"
    if default == Campaign.Default.REVOKE:
        undecided.update(outcome=Outcome.REVOKE, outcome_source=source)
    elif default == Campaign.Default.RECOMMENDATION:
        undecided.update(
            outcome=Case(
                When(recommendation=Recommendation.REVOKE, then=Value(Outcome.REVOKE)),
                default=Value(Outcome.KEEP),
            ),
            outcome_source=source,
        )
    else:
        undecided.update(outcome=Outcome.KEEP, outcome_source=source)
    items.filter(outcome=Outcome.REVOKE).update(apply_status=ApplyStatus.PENDING)
    counts = items.aggregate(
        total=Count("pk"),
        revoke=Count("pk", filter=Q(outcome=Outcome.REVOKE)),
        keep=Count("pk", filter=Q(outcome=Outcome.KEEP)),
        defaulted=Count("pk", filter=Q(outcome_source=source)),
    )
    cycle.status = Cycle.Status.STOPPED if stopped else Cycle.Status.COMPLETED
    cycle.closed_at = now
    cycle.closed_by = actor
    cycle.next_reminder_at = None
    cycle.save(update_fields=["status", "closed_at", "closed_by", "next_reminder_at"])
    audit.record(
        "reviews.cycle.stopped" if stopped else "reviews.cycle.closed",
        actor=actor,
        summary=f"{cycle.campaign.name} #{cycle.number} "
        f"{'stopped' if stopped else 'closed'}: {counts['revoke']} to revoke, "
        f"{counts['keep']} kept, {counts['defaulted']} by default ({default})",
        tenant_id=_tenant_id(cycle.campaign),
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        old={"status": Cycle.Status.ACTIVE},
        new={"status": cycle.status, **counts, "default": default},
    )
    if cycle.setting("auto_apply") and counts["revoke"]:
        request_apply(cycle.pk, actor=None, now=now)
    from .tasks import enqueue_completion_notice

    enqueue_completion_notice(cycle.pk)
    return cycle


def stop_cycle(cycle_id: int, *, actor, now: datetime | None = None) -> Cycle:
    """Admin: end a running cycle now; it closes exactly as at its end date."""
    cycle = Cycle.objects.get(pk=cycle_id)
    if cycle.status != Cycle.Status.ACTIVE:
        raise ReviewError("This review is not running.")
    return close_cycle(cycle_id, actor=actor, stopped=True, now=now)


def close_due_cycles(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    due = Cycle.objects.filter(status=Cycle.Status.ACTIVE, ends_at__lte=now)
    return [close_cycle(pk, now=now).pk for pk in due.values_list("pk", flat=True)]


# --------------------------------------------------------------------------- applying


def _enqueue_apply(item_ids: list[int]) -> None:
    from .tasks import apply_revocation

    def send() -> None:
        for pk in item_ids:
            apply_revocation.delay(pk)

    transaction.on_commit(send)


@transaction.atomic
def request_apply(cycle_id: int, *, actor, now: datetime | None = None) -> int:
    """Queue a removal task for every revoked item not yet handled; returns how many."""
    now = now or timezone.now()
    cycle = Cycle.objects.select_for_update().select_related("campaign__tenant").get(pk=cycle_id)
    if cycle.status == Cycle.Status.ACTIVE:
        raise ReviewError("Close the review before applying its results.")
    ids = list(cycle.items.filter(apply_status=ApplyStatus.PENDING).values_list("pk", flat=True))
    if not ids:
        _settle_cycle(cycle, now)
        return 0
    cycle.items.filter(pk__in=ids).update(apply_status=ApplyStatus.QUEUED)
    cycle.status = Cycle.Status.APPLYING
    cycle.apply_requested_at = now
    cycle.save(update_fields=["status", "apply_requested_at"])
    audit.record(
        "reviews.apply.requested",
        actor=actor,
        summary=f"{cycle.campaign.name} #{cycle.number}: {len(ids)} removals queued"
        + (" (auto-apply)" if actor is None else ""),
        tenant_id=_tenant_id(cycle.campaign),
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        new={"queued": len(ids)},
    )
    _enqueue_apply(ids)
    return len(ids)


@transaction.atomic
def retry_failed(cycle_id: int, *, actor, now: datetime | None = None) -> int:
    """Admin: queue failed removals (and to-dos, after write access was granted) again."""
    now = now or timezone.now()
    cycle = Cycle.objects.select_for_update().select_related("campaign__tenant").get(pk=cycle_id)
    ids = list(
        cycle.items.filter(apply_status__in=(ApplyStatus.FAILED, ApplyStatus.MANUAL)).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return 0
    cycle.items.filter(pk__in=ids).update(
        apply_status=ApplyStatus.QUEUED, apply_error="", apply_error_code=""
    )
    cycle.status = Cycle.Status.APPLYING
    cycle.save(update_fields=["status"])
    audit.record(
        "reviews.apply.retried",
        actor=actor,
        summary=f"{cycle.campaign.name} #{cycle.number}: {len(ids)} failed removals queued again",
        tenant_id=_tenant_id(cycle.campaign),
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        new={"queued": len(ids)},
    )
    _enqueue_apply(ids)
    return len(ids)


def _settle_cycle(cycle: Cycle, now: datetime) -> None:
    """Mark the cycle applied once no removal is waiting or running."""
    busy = cycle.items.filter(
        apply_status__in=(ApplyStatus.PENDING, ApplyStatus.QUEUED, ApplyStatus.APPLYING)
    ).exists()
    if busy or cycle.status == Cycle.Status.APPLIED or cycle.status == Cycle.Status.ACTIVE:
        return
    cycle.status = Cycle.Status.APPLIED
    cycle.applied_at = now
    cycle.save(update_fields=["status", "applied_at"])


def claim_item(item_id: int) -> bool:
    """Take a queued item for applying; only one caller ever gets True for one queue entry."""
    return (
        ReviewItem.objects.filter(pk=item_id, apply_status=ApplyStatus.QUEUED).update(
            apply_status=ApplyStatus.APPLYING,
            apply_attempts=F("apply_attempts") + 1,
            apply_started_at=timezone.now(),
        )
        == 1
    )


def privilege_of(item: ReviewItem) -> Privilege:
    return Privilege(
        kind=item.kind,
        granted_via=item.granted_via,
        principal_id=item.principal_object_id,
        role_id=item.role_object_id,
        directory_scope_id=item.directory_scope_id,
        role_assignment_id=item.role_assignment_id,
    )


APPLIED, RETRY, FAILED, TODO = "applied", "retry", "failed", "manual"


def apply_item(
    item_id: int,
    remove: Callable[[Privilege, str], str] | None,
    *,
    max_attempts: int = 5,
    now: datetime | None = None,
) -> str | None:
    """Claim one queued revocation and remove it through Graph; None if not ours to do.

    `remove(privilege, justification)` sends the removal (None: a read-only deployment, the
    item becomes a to-do for an admin). Returns what became of the item; RETRY means the
    caller should run it again later (the item is queued again).
    """
    if not claim_item(item_id):
        return None
    item = ReviewItem.objects.select_related("cycle__campaign__tenant").get(pk=item_id)
    justification = f"spreview review {item.cycle.campaign.name} #{item.cycle.number}: revoked" + (
        f" ({item.justification})" if item.justification else ""
    )
    error: GraphError | None = None
    result = None
    if remove is None:
        result = TODO
    else:
        try:
            result = remove(privilege_of(item), justification)
        except GraphError as exc:
            error = exc
    return _record_apply_result(item_id, result, error, max_attempts, now or timezone.now())


@transaction.atomic
def _record_apply_result(
    item_id: int, result: str | None, error: GraphError | None, max_attempts: int, now: datetime
) -> str:
    item = (
        ReviewItem.objects.select_for_update()
        .select_related("cycle__campaign__tenant")
        .get(pk=item_id)
    )
    cycle = item.cycle
    common = {
        "tenant_id": _tenant_id(cycle.campaign),
        "campaign_id": cycle.campaign_id,
        "cycle_id": cycle.pk,
        "item_id": item.pk,
        "object_type": "assignment",
        "object_id": str(item.assignment_id),
    }
    label = f"{item.principal_name} · {item.role_name}"
    if error is None and result == TODO:
        item.apply_status = ApplyStatus.MANUAL
        item.apply_error = "Read-only deployment: remove this assignment in Entra ID."
        outcome, action = TODO, "reviews.removal.todo"
    elif error is None:
        item.apply_status = (
            ApplyStatus.ALREADY_GONE if result == ALREADY_GONE else ApplyStatus.APPLIED
        )
        item.applied_at = now
        item.apply_error = item.apply_error_code = ""
        outcome, action = (
            APPLIED,
            (
                "reviews.removal.already_gone"
                if result == ALREADY_GONE
                else "reviews.removal.applied"
            ),
        )
        Assignment.objects.filter(pk=item.assignment_id, removed_at__isnull=True).update(
            removed_at=now
        )
    elif error.status == 403:
        item.apply_status = ApplyStatus.MANUAL
        item.apply_error_code = error.code[:128]
        item.apply_error = (
            "The app may not remove role assignments (read-only permissions): remove it in "
            "Entra ID, or grant RoleManagement.ReadWrite.Directory and retry. " + str(error)
        )
        item.apply_request_id = error.request_id[:128]
        outcome, action = TODO, "reviews.removal.todo"
    elif error.is_transient and item.apply_attempts < max_attempts:
        item.apply_status = ApplyStatus.QUEUED
        item.apply_error_code = (error.code or f"HTTP{error.status or ''}")[:128]
        item.apply_error = str(error)
        item.apply_request_id = error.request_id[:128]
        outcome, action = RETRY, "reviews.removal.attempt_failed"
    else:
        item.apply_status = ApplyStatus.FAILED
        item.apply_error_code = (error.code or f"HTTP{error.status or ''}")[:128]
        item.apply_error = str(error)
        item.apply_request_id = error.request_id[:128]
        outcome, action = FAILED, "reviews.removal.failed"
    item.save(
        update_fields=[
            "apply_status",
            "applied_at",
            "apply_error",
            "apply_error_code",
            "apply_request_id",
        ]
    )
    audit.record(
        action,
        summary=f"{label}: {ApplyStatus(item.apply_status).label}"
        + (f" ({item.apply_error_code})" if item.apply_error_code else ""),
        old={"apply_status": ApplyStatus.APPLYING},
        new={
            "apply_status": item.apply_status,
            "attempt": item.apply_attempts,
            "error_code": item.apply_error_code,
            "request_id": item.apply_request_id,
        },
        **common,
    )
    Cycle.objects.select_for_update().filter(pk=cycle.pk).first()
    cycle.refresh_from_db()
    _settle_cycle(cycle, now)
    return outcome


def requeue_stalled(now: datetime | None = None, *, after: timedelta | None = None) -> list[int]:
    """Items left `applying` by a worker that died go back to the queue (removal is idempotent
    on Graph's side: a second request finds the assignment already gone)."""
    now = now or timezone.now()
    after = after or timedelta(seconds=settings.APPLY_STALE_AFTER_SECONDS)
    ids = list(
        ReviewItem.objects.filter(
            apply_status=ApplyStatus.APPLYING, apply_started_at__lt=now - after
        ).values_list("pk", flat=True)
    )
    requeued = [
        pk
        for pk in ids
        if ReviewItem.objects.filter(pk=pk, apply_status=ApplyStatus.APPLYING).update(
            apply_status=ApplyStatus.QUEUED
        )
    ]
    if requeued:
        with transaction.atomic():
            _enqueue_apply(requeued)
    return requeued


# --------------------------------------------------------------------------- sync-detected removals


def record_sync_removals(tenant_id: str, run_id: int, assignment_ids: list[int]) -> int:
    """Audit assignments the sync found gone from Entra ID (called inside the sweep)."""
    rows = Assignment.objects.filter(pk__in=assignment_ids).values(
        "pk", "principal__display_name", "principal__object_id", "role__display_name", "kind"
    )
    return audit.record_many(
        audit.event(
            "identities.assignment.removed",
            summary=f"{r['principal__display_name']} · {r['role__display_name']} ({r['kind']}) "
            "no longer in Entra ID",
            tenant_id=tenant_id,
            object_type="assignment",
            object_id=str(r["pk"]),
            new={"sync_run": run_id, "principal": r["principal__object_id"]},
        )
        for r in rows
    )
