"""What the sync finds changed in Entra ID that reviews care about: removals done outside
spreview, and revocations undone (an assignment a review removed, granted again)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from identities.models import Assignment

from .. import audit
from ..models import ApplyStatus, Outcome, ReviewItem
from ..privileges import privilege_label


def record_sync_removals(tenant_id: str, run_id: int, assignment_ids: list[int]) -> int:
    """Audit assignments the sync found gone from Entra ID (called inside the sweep)."""
    rows = Assignment.objects.filter(pk__in=assignment_ids).values(
        "pk", "principal__display_name", "principal__object_id", "role__display_name", "kind",
        "role__privilege_type", "role__resource_name", "role__tier",
    )  # fmt: skip
    return audit.record_many(
        audit.event(
            "identities.assignment.removed",
            summary=f"{r['principal__display_name']} · "
            + privilege_label(
                r["role__display_name"],
                r["role__privilege_type"],
                r["role__resource_name"],
                r["role__tier"],
            )
            + f" ({r['kind']}) no longer in Entra ID",
            tenant_id=tenant_id,
            object_type="assignment",
            object_id=str(r["pk"]),
            new={"sync_run": run_id, "principal": r["principal__object_id"]},
        )
        for r in rows
    )


def record_regrants(tenant_id: str, run_id: int, assignment_ids: list[int]) -> int:
    """Flag revocations undone in Entra ID: the sync lists an assignment a review removed."""
    now = timezone.now()
    # Graph may still list an assignment for a short while after it was removed: a listing
    # within the grace period after the removal is replication lag, not a re-grant.
    grace = timedelta(minutes=settings.REGRANT_GRACE_MINUTES)
    items = list(
        ReviewItem.objects.filter(
            assignment_id__in=assignment_ids,
            outcome=Outcome.REVOKE,
            apply_status__in=(ApplyStatus.APPLIED, ApplyStatus.ALREADY_GONE),
            applied_at__lte=now - grace,
            regranted_at__isnull=True,
        ).select_related("cycle__campaign")
    )
    if not items:
        return 0
    ReviewItem.objects.filter(pk__in=[i.pk for i in items]).update(regranted_at=now)
    return audit.record_many(
        audit.event(
            "reviews.assignment.regranted",
            summary=f"{i.principal_name} · {i.privilege_label} is back in Entra ID after "
            f"{i.cycle.campaign.name} #{i.cycle.number} removed it",
            tenant_id=tenant_id,
            campaign_id=i.cycle.campaign_id,
            cycle_id=i.cycle_id,
            item_id=i.pk,
            object_type="assignment",
            object_id=str(i.assignment_id),
            new={"sync_run": run_id},
        )
        for i in items
    )
