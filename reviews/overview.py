"""What the overview page shows: the tenant mirror and the reviews at a glance.

Each figure is one query (the running reviews four) whatever the size of the tenant: counts
and a few short lists, never a query per row, so the page takes a fixed number of queries for
10 service principals or 50,000 (tests/pages/test_overview_scale.py: 20,000 review items).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from identities.credentials import EXPIRY_WARNING_DAYS, CredentialRow
from identities.filters import inactive_principals_q, inventory_queryset, ownerless_principals_q
from identities.models import ServicePrincipal, SyncRun, Tenant

from .models import DECIDED, NEEDS_ATTENTION, Cycle, EmailDelivery, ItemReviewer, ReviewItem
from .privileges import privilege_label

EXPIRING_SHOWN = 10


@dataclass
class RoleBar:
    role_id: int
    name: str
    principals: int
    assignments: int
    width: int  # 0-100, relative to the role held by the most principals


@dataclass
class ExpiringPrincipal:
    principal: ServicePrincipal
    credentials: list[CredentialRow]


@dataclass
class Overview:
    tenant: Tenant | None
    principals: int = 0
    assignments: int = 0
    ownerless: int = 0
    inactive: int = 0
    disabled: int = 0
    roles: list[RoleBar] = field(default_factory=list)
    expiring_count: int = 0
    expiring: list[ExpiringPrincipal] = field(default_factory=list)
    running_cycles: list[Cycle] = field(default_factory=list)
    last_sync: SyncRun | None = None
    failed_by_cycle: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed_removals(self) -> int:
        return sum(row["failed"] for row in self.failed_by_cycle)


def _role_bars(rows: list[dict[str, Any]]) -> list[RoleBar]:
    widest = max((row["principals"] for row in rows), default=0)
    return [
        RoleBar(
            role_id=row["role"],
            # A permission's value alone is ambiguous (Sites.FullControl.All exists on two
            # APIs): name its API too.
            name=privilege_label(
                row["role__display_name"], row["role__privilege_type"], row["role__resource_name"]
            ),
            principals=row["principals"],
            assignments=row["assignments"],
            # A role held by anyone keeps a visible sliver of a bar.
            width=max(round(100 * row["principals"] / widest), 1) if widest else 0,
        )
        for row in rows
    ]


def _running_cycles(tenant: Tenant) -> list[Cycle]:
    """The tenant's running cycles with `total`, `decided` and `uninvited` (reviewers whose
    invitation has not gone out: refused past every retry, or not sent yet).

    Every figure is gathered once for all running cycles, never per item: a subquery beside the
    item counts' join would be grouped on and so run once per item (minutes at 20,000 items),
    and joining the reviewers would multiply the item counts. Who was not invited is a set
    difference of (cycle, reviewer) pairs done here, linear in the reviewers: an anti-join is
    planned as a nested loop (reviewers times invitations) on a table filled since its last
    ANALYZE, which is exactly the table of a cycle that has just started."""
    cycles = list(
        Cycle.objects.filter(campaign__tenant=tenant, status=Cycle.Status.ACTIVE)
        .select_related("campaign")
        .order_by("ends_at", "pk")
    )
    ids = [cycle.pk for cycle in cycles]
    counts = {
        row["cycle"]: row
        for row in ReviewItem.objects.filter(cycle__in=ids)
        .values("cycle")
        .annotate(total=Count("pk"), decided=Count("pk", filter=Q(decision__in=DECIDED)))
        .order_by()
    }
    reviewers = set(
        ItemReviewer.objects.filter(item__cycle__in=ids)
        .values_list("item__cycle", "user")
        .order_by()
        .distinct()
    )
    invited = set(
        EmailDelivery.objects.filter(
            cycle__in=ids, kind=EmailDelivery.Kind.INVITATION, sent_at__isnull=False
        ).values_list("cycle", "recipient")
    )
    uninvited = Counter(cycle for cycle, _user in reviewers - invited)
    for cycle in cycles:
        row = counts.get(cycle.pk, {})
        cycle.total = row.get("total", 0)
        cycle.decided = row.get("decided", 0)
        cycle.uninvited = uninvited[cycle.pk]
    return cycles


def build_overview(tenant: Tenant | None, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    overview = Overview(tenant=tenant)
    if tenant is None:
        return overview
    current = inventory_queryset(tenant).order_by()

    totals = current.aggregate(
        principals=Count("principal", distinct=True),
        assignments=Count("pk"),
        ownerless=Count("principal", distinct=True, filter=ownerless_principals_q()),
        inactive=Count("principal", distinct=True, filter=inactive_principals_q(now)),
        disabled=Count("principal", distinct=True, filter=Q(principal__account_enabled=False)),
    )
    for name, value in totals.items():
        setattr(overview, name, value or 0)

    by_role = (
        current.values("role", "role__display_name", "role__privilege_type", "role__resource_name")
        .annotate(principals=Count("principal", distinct=True), assignments=Count("pk"))
        .order_by("-principals", "role__display_name", "role")
    )
    overview.roles = _role_bars(list(by_role))

    expiring = ServicePrincipal.objects.filter(
        pk__in=current.values("principal"),
        next_credential_expiry__gte=now,
        next_credential_expiry__lte=now + timedelta(days=EXPIRY_WARNING_DAYS),
    )
    overview.expiring_count = expiring.count()
    overview.expiring = [
        ExpiringPrincipal(
            principal=principal,
            credentials=[row for row in principal.credential_rows(now) if row.status == "expiring"],
        )
        for principal in expiring.order_by("next_credential_expiry", "pk")[:EXPIRING_SHOWN]
    ]

    overview.running_cycles = _running_cycles(tenant)

    overview.last_sync = (
        SyncRun.objects.filter(tenant=tenant).order_by("-started_at", "-pk").first()
    )

    overview.failed_by_cycle = list(
        ReviewItem.objects.filter(cycle__campaign__tenant=tenant, apply_status__in=NEEDS_ATTENTION)
        .values("cycle", "cycle__number", "cycle__campaign__name")
        .annotate(failed=Count("pk"))
        .order_by("cycle__campaign__name", "cycle__number", "cycle")
    )
    return overview
