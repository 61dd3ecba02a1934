"""A running cycle of tens of thousands of items, built in a few bulk statements.

The principals and assignments are inserted in bulk (as the sync does); the cycle is started by
the real service, which snapshots them and creates the owners' users and reviewer links. Used by
the scale tests and, with `manage.py shell`, to EXPLAIN the pages' queries on a filled database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from identities.models import Assignment, RoleDefinition, ServicePrincipal, Tenant
from reviews.models import Campaign, Cycle, EmailDelivery, ItemReviewer, ReviewItem
from tests.factories import make_admin, make_campaign, make_tenant, start_cycle


@dataclass
class LargeCycle:
    tenant: Tenant
    admin: object
    cycle: Cycle
    reviewers: int
    invited: int


def make_large_cycle(
    items: int, *, items_per_reviewer: int = 5, invited_share: float = 0.5
) -> LargeCycle:
    """A running cycle of `items` items, each principal owned by one of `items //
    items_per_reviewer` owners (its reviewer); `invited_share` of them got their invitation, so
    the overview has reviewers not invited yet to count."""
    tenant = make_tenant()
    admin = make_admin(f"admin-{uuid.uuid4().hex[:8]}")
    role = RoleDefinition.objects.create(
        tenant=tenant,
        object_id=str(uuid.uuid4()),
        template_id=str(uuid.uuid4()),
        display_name="Application Administrator",
        is_privileged=True,
    )
    reviewers = max(items // items_per_reviewer, 1)
    owners = [str(uuid.uuid4()) for _ in range(reviewers)]
    now = timezone.now()
    principals = ServicePrincipal.objects.bulk_create(
        ServicePrincipal(
            tenant=tenant,
            object_id=str(uuid.uuid4()),
            app_id=str(uuid.uuid4()),
            display_name=f"App {n:06d}",
            sp_type=ServicePrincipal.Type.APPLICATION,
            owners=[{"id": owners[n % reviewers], "type": "user", "displayName": f"Owner {n}"}],
            owner_count=1,
            sign_in_known=True,
            last_sign_in_at=now - timedelta(days=n % 200),
            next_credential_expiry=now + timedelta(days=n % 60),
        )
        for n in range(items)
    )
    Assignment.objects.bulk_create(
        Assignment(
            tenant=tenant,
            principal=principal,
            role=role,
            directory_scope_id="/",
            kind=Assignment.Kind.ACTIVE,
            granted_via=Assignment.Granted.DIRECT,
            role_assignment_id=str(uuid.uuid4()),
        )
        for principal in principals
    )
    campaign = make_campaign(
        tenant,
        admin,
        name=f"Review of {items}",
        roles=[role],
        role_scope=Campaign.RoleScope.SELECTED,
        frequency="monthly",
    )
    cycle = start_cycle(campaign)
    people = sorted(
        ItemReviewer.objects.filter(item__cycle=cycle).values_list("user", flat=True).distinct()
    )
    invited = people[: int(len(people) * invited_share)]
    EmailDelivery.objects.bulk_create(
        EmailDelivery(
            cycle=cycle,
            kind=EmailDelivery.Kind.INVITATION,
            recipient_id=user,
            claim=uuid.uuid4(),
            sent_at=now,
        )
        for user in invited
    )
    return LargeCycle(tenant, admin, cycle, reviewers=len(people), invited=len(invited))


def decide_some(cycle: Cycle, share: float) -> int:
    """Mark the first `share` of the items decided, in one UPDATE (the scale, not the audit, is
    under test here)."""
    last = ReviewItem.objects.filter(cycle=cycle).aggregate(Max("pk"))["pk__max"] or 0
    first = ReviewItem.objects.filter(cycle=cycle).order_by("pk").values_list("pk", flat=True)[0]
    cut = first + int((last - first + 1) * share)
    return ReviewItem.objects.filter(cycle=cycle, pk__lt=cut).update(decision="approve")
