"""Rows and personas for the review page tests, built with the ORM and the real services.

Plain functions, so that they never collide with the service tests' fixtures; the one fixture
the page tests share, `world`, is in conftest.py. Roles and assignments are the inventory page
tests' rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.models import EntraAccount
from accounts.permissions import AUDITOR_GROUP
from identities.models import RoleDefinition, ServicePrincipal, Tenant
from reviews import services
from reviews.models import AuditEvent, Campaign, Cycle, Decision, ReviewItem
from tests.pages.factories import make_assignment, make_role, unique_id

TENANT_ID = "11111111-1111-1111-1111-111111111111"
HOSTILE = "<script>alert(1)</script>"


def make_tenant(*, synced: bool = True) -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(
        tenant_id=TENANT_ID, defaults={"display_name": "Contoso"}
    )
    if synced and tenant.last_synced_at is None:
        tenant.last_synced_at = timezone.now()
        tenant.save(update_fields=["last_synced_at"])
    return tenant


def make_user(username: str, **fields: Any):
    fields.setdefault("email", f"{username}@contoso.example")
    return get_user_model().objects.create_user(username, password="pw", **fields)


def make_admin(username: str = "ada-admin"):
    return make_user(username, is_staff=True)


def make_auditor(username: str = "aud-auditor"):
    user = make_user(username)
    group, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
    user.groups.add(group)
    return user


def make_owner_reviewer(tenant: Tenant, username: str):
    """A user linked to an Entra oid, so that principals they own are theirs to review."""
    user = make_user(username)
    EntraAccount.objects.create(
        user=user,
        tenant=tenant,
        object_id=unique_id("oid"),
        user_principal_name=f"{username}@contoso.example",
        display_name=username.title(),
    )
    return user


def owner_entry(user) -> dict[str, str]:
    return {
        "id": user.entra.object_id,
        "type": "#microsoft.graph.user",
        "displayName": user.entra.display_name,
        "userPrincipalName": user.entra.user_principal_name,
        "mail": user.email,
    }


def make_principal(tenant: Tenant, name: str, *, owners=(), **fields: Any) -> ServicePrincipal:
    values: dict[str, Any] = {
        "object_id": unique_id("sp"),
        "app_id": unique_id("app"),
        "display_name": name,
        "sp_type": ServicePrincipal.Type.APPLICATION,
        "owners": [owner_entry(u) for u in owners],
        "owner_count": len(owners),
        "sign_in_known": True,
        "last_sign_in_at": timezone.now() - timedelta(days=2),
        "credentials": [
            {
                "kind": "secret",
                "keyId": unique_id("key"),
                "displayName": "deploy secret",
                "end": (timezone.now() + timedelta(days=10)).isoformat(),
            }
        ],
    }
    values.update(fields)
    return ServicePrincipal.objects.create(tenant=tenant, **values)


def make_campaign(tenant: Tenant, actor, *, reviewers=(), roles=(), **fields: Any) -> Campaign:
    """A campaign through the service, due to start now (start_at a minute ago)."""
    values: dict[str, Any] = {
        "tenant": tenant,
        "name": "Quarterly privileged SP review",
        "start_at": timezone.now() - timedelta(minutes=1),
        "reviewer_mode": Campaign.ReviewerMode.OWNERS,
        "duration_days": 14,
        "justification": Campaign.Justification.ON_APPROVE,
    }
    values.update(fields)
    return services.create_campaign(
        Campaign(**values), roles=list(roles), reviewers=list(reviewers), actor=actor
    )


def start_cycle(campaign: Campaign) -> Cycle:
    cycle = services.start_cycle(campaign.pk, now=timezone.now())
    assert cycle is not None, "the campaign was not due"
    return cycle


def login(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@dataclass
class World:
    """One running cycle: reviewer A owns two principals, reviewer B one, nobody the last
    (the fallback reviewer, B, gets it)."""

    tenant: Tenant
    role: RoleDefinition
    admin: Any
    auditor: Any
    reviewer_a: Any
    reviewer_b: Any
    outsider: Any
    campaign: Campaign
    cycle: Cycle
    items: dict[str, ReviewItem] = field(default_factory=dict)

    def items_of(self, user) -> list[ReviewItem]:
        return list(ReviewItem.objects.filter(cycle=self.cycle, reviewer_links__user=user))


def make_world(**campaign_fields: Any) -> World:
    tenant = make_tenant()
    role = make_role(tenant, "Global Administrator")
    admin = make_admin()
    auditor = make_auditor()
    reviewer_a = make_owner_reviewer(tenant, "anna-reviewer")
    reviewer_b = make_owner_reviewer(tenant, "ben-reviewer")
    outsider = make_user("otto-outsider")
    principals = {
        "payroll": make_principal(tenant, "Payroll connector", owners=[reviewer_a]),
        "backup": make_principal(tenant, "Backup agent", owners=[reviewer_a], last_sign_in_at=None),
        "crm": make_principal(tenant, "CRM sync", owners=[reviewer_b]),
        "orphan": make_principal(tenant, "Orphan app"),
    }
    for principal in principals.values():
        make_assignment(principal, role)
    # Monthly, so that the campaign stays editable while its first cycle runs.
    campaign_fields.setdefault("frequency", "monthly")
    campaign = make_campaign(tenant, admin, reviewers=[reviewer_b], **campaign_fields)
    cycle = start_cycle(campaign)
    items = {
        key: ReviewItem.objects.get(cycle=cycle, principal=principal)
        for key, principal in principals.items()
    }
    return World(
        tenant=tenant,
        role=role,
        admin=admin,
        auditor=auditor,
        reviewer_a=reviewer_a,
        reviewer_b=reviewer_b,
        outsider=outsider,
        campaign=campaign,
        cycle=cycle,
        items=items,
    )


def make_cycle_of(count: int) -> tuple[Any, Any, Cycle]:
    """(admin, reviewer, cycle): a running cycle of `count` items for one owner-reviewer, three
    of them decided so that "decided by" is shown too. For the query-count tests."""
    tenant = make_tenant()
    admin = make_admin(f"admin-{count}")
    reviewer = make_owner_reviewer(tenant, f"rev-{count}")
    role = make_role(tenant, f"Role {count}")
    for n in range(count):
        make_assignment(make_principal(tenant, f"App {count}-{n:04d}", owners=[reviewer]), role)
    campaign = make_campaign(tenant, admin, name=f"Review {count}", roles=[role],
                             role_scope=Campaign.RoleScope.SELECTED)  # fmt: skip
    cycle = start_cycle(campaign)
    for item in ReviewItem.objects.filter(cycle=cycle).order_by("pk")[:3]:
        services.record_decision(item.pk, "revoke", "", actor=reviewer)
    return admin, reviewer, cycle


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def snapshot() -> tuple[int, list[tuple[int, str, str]]]:
    """What a refused request must leave untouched: the audit log and every decision."""
    decisions = list(
        ReviewItem.objects.order_by("pk").values_list("pk", "decision", "justification")
    )
    return AuditEvent.objects.count(), decisions


def pending(item: ReviewItem) -> bool:
    item.refresh_from_db()
    return item.decision == Decision.PENDING
