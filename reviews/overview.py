"""What the overview page shows: the tenant mirror and the reviews at a glance.

Each figure is one query whatever the size of the tenant (counts and a few short lists), so
the page costs the same for 10 service principals or 50,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from identities.credentials import EXPIRY_WARNING_DAYS, CredentialRow
from identities.filters import inactive_principals_q, inventory_queryset
from identities.models import ServicePrincipal, SyncRun, Tenant

from .models import DECIDED, NEEDS_ATTENTION, Cycle, EmailDelivery, ItemReviewer, ReviewItem

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
            name=row["role__display_name"],
            principals=row["principals"],
            assignments=row["assignments"],
            # A role held by anyone keeps a visible sliver of a bar.
            width=max(round(100 * row["principals"] / widest), 1) if widest else 0,
        )
        for row in rows
    ]


def _uninvited_reviewers() -> Subquery:
    """Per cycle, reviewers whose invitation has not gone out (the mail server refused it past
    every retry, or the worker has not got to it yet): a subquery, so that joining the
    reviewers does not multiply the item counts beside it."""
    invited = EmailDelivery.objects.filter(
        cycle=OuterRef(OuterRef("pk")),
        recipient=OuterRef("user"),
        kind=EmailDelivery.Kind.INVITATION,
        sent_at__isnull=False,
    )
    waiting = (
        ItemReviewer.objects.filter(item__cycle=OuterRef("pk"))
        .exclude(Exists(invited))
        .order_by()
        .values("item__cycle")
        .annotate(n=Count("user", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(waiting, output_field=IntegerField()), 0)


def build_overview(tenant: Tenant | None, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    overview = Overview(tenant=tenant)
    if tenant is None:
        return overview
    current = inventory_queryset(tenant).order_by()

    totals = current.aggregate(
        principals=Count("principal", distinct=True),
        assignments=Count("pk"),
        ownerless=Count("principal", distinct=True, filter=Q(principal__owner_count=0)),
        inactive=Count("principal", distinct=True, filter=inactive_principals_q(now)),
        disabled=Count("principal", distinct=True, filter=Q(principal__account_enabled=False)),
    )
    for name, value in totals.items():
        setattr(overview, name, value or 0)

    by_role = (
        current.values("role", "role__display_name")
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

    overview.running_cycles = list(
        Cycle.objects.filter(campaign__tenant=tenant, status=Cycle.Status.ACTIVE)
        .select_related("campaign")
        .annotate(
            total=Count("items"),
            decided=Count("items", filter=Q(items__decision__in=DECIDED)),
            uninvited=_uninvited_reviewers(),
        )
        .order_by("ends_at", "pk")
    )

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
