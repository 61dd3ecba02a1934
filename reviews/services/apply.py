"""Applying revocations through Graph: queue, claim, remove, record, recover."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from identities import services as mirror
from identities.graph.errors import GraphConfigError, GraphError
from identities.graph.removals import ALREADY_GONE, Grant, Privilege, RemovalImpossible
from outbox import services as outbox

from .. import audit
from ..models import (
    NEEDS_ATTENTION,
    ApplyStatus,
    Cycle,
    ReviewItem,
)
from ..privileges import APP_PERMISSION, item_label, privilege_label
from .common import APPLY_REVOCATION, SEND_FAILURE_NOTICE, ReviewError, _tenant_id

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _enqueue_apply(item_ids: list[int]) -> None:
    """One outbox row per removal, written with the state change that queued it."""
    outbox.enqueue_many(APPLY_REVOCATION, ([pk] for pk in item_ids))


@transaction.atomic
def request_apply(cycle_id: int, *, actor: User | None, now: datetime | None = None) -> int:
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
    cycle.apply_round += 1
    cycle.save(update_fields=["status", "apply_requested_at", "apply_round"])
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
def retry_failed(cycle_id: int, *, actor: User, now: datetime | None = None) -> int:
    """Admin: queue failed removals (and to-dos, after write access was granted) again."""
    now = now or timezone.now()
    cycle = Cycle.objects.select_for_update().select_related("campaign__tenant").get(pk=cycle_id)
    ids = list(cycle.items.filter(apply_status__in=NEEDS_ATTENTION).values_list("pk", flat=True))
    if not ids:
        return 0
    cycle.items.filter(pk__in=ids).update(
        apply_status=ApplyStatus.QUEUED, apply_error="", apply_error_code=""
    )
    cycle.status = Cycle.Status.APPLYING
    cycle.apply_round += 1
    cycle.save(update_fields=["status", "apply_round"])
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
    if cycle.items.filter(apply_status=ApplyStatus.FAILED).exists():
        # Once per apply round: the notice's deliveries are keyed by it.
        outbox.enqueue(SEND_FAILURE_NOTICE, cycle.pk, cycle.apply_round)


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
        resource_id=item.resource_object_id,
    )


def _privilege_facts(item: ReviewItem) -> dict:
    """What an audit event says about the privilege: a permission's name, API and tier."""
    facts: dict = {"privilege": item.role_name, "tier": item.tier}
    if item.privilege_type == APP_PERMISSION:
        facts["api"] = item.resource_name
        facts["app_role_assignment_id"] = item.role_assignment_id
    return facts


def _todo_text(item: ReviewItem) -> str:
    """The exact thing an admin removes by hand in a read-only deployment."""
    if item.privilege_type == APP_PERMISSION:
        return (
            f"Read-only deployment: remove the application permission {item.role_name} "
            f"({item.resource_name or item.resource_object_id}) from {item.principal_name} in "
            "Entra ID (Enterprise applications, the app, Permissions): appRoleAssignment "
            f"{item.role_assignment_id} on service principal {item.resource_object_id}."
        )
    return "Read-only deployment: remove this assignment in Entra ID."


def _forbidden_text(item: ReviewItem) -> str:
    if item.privilege_type == APP_PERMISSION:
        return (
            "The app may not remove application permissions (read-only permissions): remove "
            "it in Entra ID, or grant AppRoleAssignment.ReadWrite.All and retry. "
        )
    return (
        "The app may not remove role assignments (read-only permissions): remove it in "
        "Entra ID, or grant RoleManagement.ReadWrite.Directory and retry. "
    )


APPLIED, RETRY, FAILED, TODO = "applied", "retry", "failed", "manual"
# What a retry can find instead of sending: its earlier request did the removal; the privilege
# was granted again after the decision; or Graph gives no time to tell which grant it lists.
CONFIRMED, REGRANTED, UNCLEAR = "confirmed", "regranted", "unclear"


def apply_item(
    item_id: int,
    remove: Callable[[Privilege, str], str] | None,
    *,
    inspect: Callable[[Privilege], list[Grant]] | None = None,
    max_attempts: int = 5,
    now: datetime | None = None,
) -> str | None:
    """Claim one queued revocation and remove it through Graph; None if not ours to do.

    `remove(privilege, justification)` sends the removal (None: a read-only deployment, the
    item becomes a to-do for an admin). `inspect(privilege)` lists what Graph holds now: every
    attempt after the first reads it before sending, because the earlier request may have
    landed (a worker killed mid-request, a timeout) and the privilege may have been granted
    again since, under the same id; only the grant that was decided is ever removed. Returns
    what became of the item; RETRY means the caller should run it again later.

    An application permission is removed by its appRoleAssignment id alone. A re-grant between
    the decision and the apply is a new appRoleAssignment with a new id, so the DELETE of the
    reviewed id can never remove it: Graph answers 404, the item is "already gone" and the new
    grant stays for the next review to decide on.
    """
    if not claim_item(item_id):
        return None
    item = ReviewItem.objects.select_related("cycle__campaign__tenant").get(pk=item_id)
    justification = f"spreview review {item.cycle.campaign.name} #{item.cycle.number}: revoked" + (
        f" ({item.justification})" if item.justification else ""
    )
    error: GraphError | None = None
    result = None
    evidence: dict | None = None
    if remove is None:
        result = TODO
    else:
        try:
            if item.apply_attempts > 1 and inspect is not None:
                result, evidence = _recheck(item, inspect(privilege_of(item)))
            if result is None:
                ReviewItem.objects.filter(pk=item_id, removal_sent_at__isnull=True).update(
                    removal_sent_at=timezone.now()
                )
                result = remove(privilege_of(item), justification)
        except GraphError as exc:
            error = exc
        except GraphConfigError as exc:
            # Nothing was sent; the admin fixes the setting, then retries the failed items.
            error = RemovalImpossible(f"Graph is not configured: {exc}", code="GraphConfigError")
    return _record_apply_result(
        item_id, result, error, max_attempts, now or timezone.now(), evidence
    )


def _recheck(item: ReviewItem, grants: list[Grant]) -> tuple[str | None, dict | None]:
    """Before a retry sends anything: (None, None) to send the removal (the decided grant is
    still there), else what became of the item and the evidence for its audit event."""
    if item.privilege_type == APP_PERMISSION:
        # Known by its id: another grant of the same permission is not the one decided.
        grants = [g for g in grants if g.assignment_id == item.role_assignment_id]
    if not grants:
        return (CONFIRMED if item.removal_sent_at else ALREADY_GONE), None
    revoked_at = item.revoked_at()
    # Graph's times have whole seconds: a grant in the decision's own second may be newer.
    cutoff = revoked_at.replace(microsecond=0) if revoked_at else None
    verdicts = [_is_decided_grant(item, grant, cutoff) for grant in grants]
    if True in verdicts:
        return None, None
    evidence = {
        "revoked_at": cutoff.isoformat() if cutoff else None,
        "grants": [
            {
                "assignment_id": g.assignment_id,
                "schedule_id": g.schedule_id,
                "created_at": g.created_at.isoformat() if g.created_at else None,
            }
            for g in grants[:5]
        ],
    }
    return (UNCLEAR if None in verdicts else REGRANTED), evidence


def _is_decided_grant(item: ReviewItem, grant: Grant, cutoff: datetime | None) -> bool | None:
    """True for the grant the review decided on, False for a newer one, None when unknown.

    A PIM schedule is known by its id (a new grant gets a new one). A direct assignment's id
    is derived from role, principal and scope, so a re-grant reuses it: only a creation time
    before the decision proves it is the grant that was reviewed."""
    if item.granted_via != "direct" and item.schedule_id:
        return grant.schedule_id == item.schedule_id
    if item.granted_via == "direct" and grant.assignment_id != item.role_assignment_id:
        return False
    if grant.created_at is None or cutoff is None:
        return None
    return grant.created_at < cutoff


@transaction.atomic
def _record_apply_result(
    item_id: int,
    result: str | None,
    error: GraphError | None,
    max_attempts: int,
    now: datetime,
    evidence: dict | None = None,
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
    label = f"{item.principal_name} · {item_label(item)}"
    if error is None and result == TODO:
        item.apply_status = ApplyStatus.MANUAL
        item.apply_error = _todo_text(item)
        outcome, action = TODO, "reviews.removal.todo"
    elif error is None and result == REGRANTED:
        item.apply_status = ApplyStatus.REGRANTED
        item.apply_error_code = ""
        item.apply_error = _regrant_note(evidence or {})
        outcome, action = REGRANTED, "reviews.removal.regranted"
    elif error is None and result == UNCLEAR:
        item.apply_status = ApplyStatus.MANUAL
        item.apply_error_code = "RegrantUnclear"
        item.apply_error = (
            "Entra ID lists this privilege again, and Graph gives no creation time to tell the "
            "reviewed grant from one made since the decision: check in Entra ID, and remove it "
            "there if it is the one reviewed."
        )
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
        mirror.mark_removed([item.assignment_id], when=now)
    elif error.status == 403:
        item.apply_status = ApplyStatus.MANUAL
        item.apply_error_code = error.code[:128]
        item.apply_error = _forbidden_text(item) + str(error)
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
        + (f" ({item.apply_error_code})" if item.apply_error_code else "")
        + (" (confirmed after the worker stopped)" if result == CONFIRMED else ""),
        old={"apply_status": ApplyStatus.APPLYING},
        new={
            "apply_status": item.apply_status,
            "attempt": item.apply_attempts,
            "error_code": item.apply_error_code,
            "request_id": item.apply_request_id,
            **_privilege_facts(item),
            **({"confirmed_on_retry": True} if result == CONFIRMED else {}),
            **(evidence or {}),
        },
        **common,
    )
    Cycle.objects.select_for_update().filter(pk=cycle.pk).first()
    cycle.refresh_from_db()
    _settle_cycle(cycle, now)
    return outcome


def _regrant_note(evidence: dict) -> str:
    """The evidence in words, for the results page and CSV."""
    created = sorted(g["created_at"] for g in evidence.get("grants", []) if g["created_at"])
    since = f" on {created[-1]}" if created else ""
    decided = evidence.get("revoked_at") or "the decision"
    return (
        f"Granted again in Entra ID{since}, after the revocation ({decided}); left in place: "
        "the next review decides on it."
    )


def requeue_stalled(
    now: datetime | None = None,
    *,
    after: timedelta | None = None,
    max_attempts: int | None = None,
) -> list[int]:
    """Items left `applying` by a worker that died go back to the queue; their next attempt
    reads Entra ID before sending anything (see `apply_item`), so a removal that landed is not
    sent twice and a privilege granted since is left alone. One that has used all its attempts
    this way fails instead, so an item that kills its worker cannot loop forever."""
    now = now or timezone.now()
    after = after or timedelta(seconds=settings.APPLY_STALE_AFTER_SECONDS)
    max_attempts = max_attempts or settings.APPLY_MAX_ATTEMPTS
    stalled = ReviewItem.objects.filter(
        apply_status=ApplyStatus.APPLYING, apply_started_at__lt=now - after
    )
    requeued: list[int] = []
    for pk, attempts in stalled.values_list("pk", "apply_attempts"):
        if attempts >= max_attempts:
            _fail_stalled(pk, now, after)
        # Conditional on the stale start too: an item claimed again meanwhile is left alone.
        elif stalled.filter(pk=pk).update(apply_status=ApplyStatus.QUEUED):
            requeued.append(pk)
    if requeued:
        with transaction.atomic():
            _audit_requeued(requeued)
            _enqueue_apply(requeued)
    return requeued


def _audit_requeued(item_ids: list[int]) -> None:
    rows = ReviewItem.objects.filter(pk__in=item_ids).values(
        "pk", "cycle_id", "cycle__campaign_id", "cycle__campaign__tenant__tenant_id",
        "assignment_id", "principal_name", "role_name", "apply_attempts",
        "privilege_type", "resource_name", "tier",
    )  # fmt: skip
    audit.record_many(
        audit.event(
            "reviews.removal.requeued",
            summary=f"{r['principal_name']} · "
            f"{privilege_label(r['role_name'], r['privilege_type'], r['resource_name'], r['tier'])}"
            ": its worker stopped; queued again",
            tenant_id=r["cycle__campaign__tenant__tenant_id"],
            campaign_id=r["cycle__campaign_id"],
            cycle_id=r["cycle_id"],
            item_id=r["pk"],
            object_type="assignment",
            object_id=str(r["assignment_id"]),
            old={"apply_status": ApplyStatus.APPLYING},
            new={"apply_status": ApplyStatus.QUEUED, "attempt": r["apply_attempts"]},
        )
        for r in rows
    )


@transaction.atomic
def _fail_stalled(item_id: int, now: datetime, after: timedelta) -> None:
    item = (
        ReviewItem.objects.select_for_update()
        .select_related("cycle__campaign__tenant")
        .filter(pk=item_id, apply_status=ApplyStatus.APPLYING, apply_started_at__lt=now - after)
        .first()
    )
    if item is None:
        return
    item.apply_status = ApplyStatus.FAILED
    item.apply_error_code = "WorkerLost"
    item.apply_error = (
        f"The worker applying this removal stopped {item.apply_attempts} times; check the "
        "assignment in Entra ID, then retry."
    )
    item.save(update_fields=["apply_status", "apply_error_code", "apply_error"])
    cycle = item.cycle
    audit.record(
        "reviews.removal.failed",
        summary=f"{item.principal_name} · {item_label(item)}: Failed (WorkerLost)",
        tenant_id=_tenant_id(cycle.campaign),
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        item_id=item.pk,
        object_type="assignment",
        object_id=str(item.assignment_id),
        old={"apply_status": ApplyStatus.APPLYING},
        new={
            "apply_status": ApplyStatus.FAILED,
            "attempt": item.apply_attempts,
            "error_code": item.apply_error_code,
            **_privilege_facts(item),
        },
    )
    Cycle.objects.select_for_update().filter(pk=cycle.pk).first()
    cycle.refresh_from_db()
    _settle_cycle(cycle, now)


def resend_queued(now: datetime | None = None, *, after: timedelta | None = None) -> list[int]:
    """Send the task again for removals queued long ago and never picked up (the broker was
    down when it was sent, or lost the message). A duplicate finds nothing to claim."""
    now = now or timezone.now()
    cutoff = now - (after or timedelta(seconds=settings.APPLY_STALE_AFTER_SECONDS))
    ids = list(
        ReviewItem.objects.filter(apply_status=ApplyStatus.QUEUED)
        .filter(
            Q(apply_started_at__lt=cutoff)
            | Q(apply_started_at__isnull=True, cycle__apply_requested_at__lt=cutoff)
        )
        .values_list("pk", flat=True)
    )
    if ids:
        with transaction.atomic():
            _enqueue_apply(ids)
    return ids
