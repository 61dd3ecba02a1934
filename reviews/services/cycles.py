"""Starting cycles (snapshot, recommendations, reviewers) and closing them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Case, Count, Q, Value, When
from django.utils import timezone

from accounts.people import user_owners, users_for_entra
from identities.models import Assignment, RoleDefinition, ServicePrincipal
from outbox import services as outbox

from .. import audit, emails, schedule
from ..models import (
    ApplyStatus,
    Campaign,
    Cycle,
    Decision,
    ItemReviewer,
    Outcome,
    Recommendation,
    ReviewItem,
)
from ..privileges import privilege_label
from ..recommend import recommend
from .apply import request_apply
from .campaigns import _next_start
from .common import (
    CYCLE_SETTINGS,
    SEND_COMPLETION_NOTICE,
    SEND_INVITATIONS,
    SEND_REMINDERS,
    ReviewError,
    _json,
    _tenant_id,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet


def _in_scope(campaign: Campaign) -> QuerySet[Assignment]:
    """The current assignments the campaign reviews: directory roles (active, eligible or
    both) and application permissions, as the campaign's privileges, tier and chosen
    privileges say. A tier limit leaves out what the classification does not know."""
    assignments = Assignment.objects.current().filter(
        tenant=campaign.tenant, role__is_privileged=True, principal__deleted_at__isnull=True
    )
    if campaign.role_scope == Campaign.RoleScope.SELECTED:
        assignments = assignments.filter(role__in=campaign.roles.all())
    roles = Q(role__privilege_type=RoleDefinition.PrivilegeType.ROLE)
    if campaign.kinds != Campaign.Kinds.BOTH:
        roles &= Q(kind=campaign.kinds)
    permissions = Q(
        role__privilege_type=RoleDefinition.PrivilegeType.APP_PERMISSION,
        kind=Assignment.Kind.APP_PERMISSION,
    )
    if campaign.privileges == Campaign.Privileges.ROLES:
        assignments = assignments.filter(roles)
    elif campaign.privileges == Campaign.Privileges.PERMISSIONS:
        assignments = assignments.filter(permissions)
    else:
        assignments = assignments.filter(roles | permissions)
    if campaign.max_tier is not None:
        assignments = assignments.filter(role__tier__lte=campaign.max_tier)
    if campaign.principal_types:
        assignments = assignments.filter(principal__sp_type__in=campaign.principal_types)
    return assignments.select_related("principal__application", "role").order_by("pk")


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
def start_cycle(
    campaign_id: int, *, now: datetime | None = None, actor: User | None = None
) -> Cycle | None:
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
        role = a.role
        rec, reason = recommend(
            principal,
            now,
            campaign.lookback_days,
            tier=role.tier,
            privilege=privilege_label(
                role.display_name, role.privilege_type, role.resource_name, role.tier
            ),
        )
        items.append(
            ReviewItem(
                cycle=cycle,
                assignment=a,
                principal=principal,
                principal_object_id=principal.object_id,
                principal_app_id=principal.app_id,
                principal_name=principal.display_name,
                principal_type=principal.sp_type,
                privilege_type=role.privilege_type,
                role_object_id=role.object_id,
                role_name=role.display_name,
                resource_object_id=role.resource_object_id,
                resource_name=role.resource_name,
                tier=role.tier,
                tier_reason=role.tier_reason,
                directory_scope_id=a.directory_scope_id,
                kind=a.kind,
                granted_via=a.granted_via,
                role_assignment_id=a.role_assignment_id,
                schedule_id=a.schedule_id,
                recommendation=rec,
                recommendation_reason=reason[:512],
            )
        )
    # No batch size: one INSERT on PostgreSQL whatever the count (Django batches for SQLite).
    ReviewItem.objects.bulk_create(items)
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
    outbox.enqueue(SEND_INVITATIONS, cycle.pk)
    if len(items) >= ANALYZE_AFTER_ITEMS:
        transaction.on_commit(refresh_item_statistics)
    return cycle


# A cycle this large changes the item tables enough that PostgreSQL's plans go wrong until
# autovacuum analyzes them (a reviewer's queue count became a nested loop over every item of
# the cycle: 340 ms instead of a few), and that is the minute the invitations go out.
ANALYZE_AFTER_ITEMS = 1000


def refresh_item_statistics() -> None:
    """ANALYZE the item tables now, after the cycle's commit, instead of waiting for autovacuum."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ReviewItem._meta.db_table}, {ItemReviewer._meta.db_table}")


def _link_reviewers(
    campaign: Campaign, items: list[ReviewItem], principals: list[ServicePrincipal]
) -> None:
    named = list(campaign.reviewers.values_list("pk", flat=True))
    links: list[ItemReviewer] = []
    if campaign.reviewer_mode == Campaign.ReviewerMode.NAMED:
        for item in items:
            links.extend(ItemReviewer(item=item, user_id=u, source="named") for u in named)
    else:
        # Owners of the principal and of its app registration: either can act as it.
        owners_by_item = [
            user_owners(p.owners) + user_owners(p.application.owners if p.application else [])
            for p in principals
        ]
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
    ItemReviewer.objects.bulk_create(links)


@transaction.atomic
def close_cycle(
    cycle_id: int, *, actor: User | None = None, stopped: bool = False, now: datetime | None = None
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
    outbox.enqueue(SEND_COMPLETION_NOTICE, cycle.pk)
    return cycle


def stop_cycle(cycle_id: int, *, actor: User, now: datetime | None = None) -> Cycle:
    """Admin: end a running cycle now; it closes exactly as at its end date."""
    cycle = Cycle.objects.get(pk=cycle_id)
    if cycle.status != Cycle.Status.ACTIVE:
        raise ReviewError("This review is not running.")
    return close_cycle(cycle_id, actor=actor, stopped=True, now=now)


@transaction.atomic
def request_reminders(cycle_id: int, *, actor: User) -> int:
    """Admin: queue a reminder round now for every reviewer with pending items; how many they
    are (0: nothing queued). A worker sends it, so a slow mail server never holds the page."""
    cycle = Cycle.objects.select_for_update().select_related("campaign").get(pk=cycle_id)
    if not cycle.is_open:
        raise ReviewError("This review is not running: there is nobody to remind.")
    reviewers = len(emails.reviewers_to_remind(cycle))
    if reviewers:
        round_ = emails.next_admin_round(cycle)
        outbox.enqueue(SEND_REMINDERS, cycle.pk, round_, actor.pk if actor else None)
    return reviewers


def close_due_cycles(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    due = Cycle.objects.filter(status=Cycle.Status.ACTIVE, ends_at__lte=now)
    return [close_cycle(pk, now=now).pk for pk in due.values_list("pk", flat=True)]
