"""A small mirrored tenant for service-level review tests, built directly as rows; and the
running cycle the page tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from accounts.models import EntraAccount
from identities.models import Assignment, RoleDefinition, ServicePrincipal, Tenant
from reviews import services
from reviews.models import Campaign, Cycle

from .page_factories import World, make_world

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE_APP = "<script>alert(1)</script> sync"
HOSTILE_PERSON = 'Rita <img src=x onerror="alert(2)">'


def owner(oid: str, name: str, kind: str = "user") -> dict:
    return {
        "id": oid,
        "type": kind,  # as the sync stores it
        "displayName": name,
        "userPrincipalName": f"{name.lower()}@contoso.example" if kind == "user" else None,
        "mail": None,
    }


class Mirror:
    """Rows as the sync would have written them, with helpers named for the test's intent."""

    def __init__(self) -> None:
        self.tenant = Tenant.objects.create(tenant_id="11111111-1111-1111-1111-111111111111")
        self.global_admin = self.role("Global Administrator")
        self.app_admin = self.role("Application Administrator")
        self.reader = self.role("Directory Readers", privileged=False)
        self._n = 0

    def role(self, name: str, privileged: bool = True) -> RoleDefinition:
        return RoleDefinition.objects.create(
            tenant=self.tenant,
            object_id=f"role-{name.lower().replace(' ', '-')}",
            display_name=name,
            is_privileged=privileged,
        )

    def principal(self, name: str, **fields) -> ServicePrincipal:
        self._n += 1
        defaults = {
            "object_id": f"00000000-0000-0000-0000-{self._n:012d}",
            "app_id": f"aaaaaaaa-0000-0000-0000-{self._n:012d}",
            "display_name": name,
            "sp_type": "Application",
            "sign_in_known": True,
            "last_sign_in_at": NOW - timedelta(days=2),
        }
        defaults.update(fields)
        return ServicePrincipal.objects.create(tenant=self.tenant, **defaults)

    def assign(
        self, principal, role=None, *, kind="active", granted_via="direct", scope="/", **fields
    ) -> Assignment:
        self._n += 1
        return Assignment.objects.create(
            tenant=self.tenant,
            principal=principal,
            role=role or self.global_admin,
            directory_scope_id=scope,
            kind=kind,
            granted_via=granted_via,
            role_assignment_id=f"ra-{self._n}" if granted_via == "direct" else "",
            **fields,
        )


@pytest.fixture
def mirror(db):
    return Mirror()


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_user(
        "ada-admin", email="ada@contoso.example", is_staff=True
    )


@pytest.fixture
def rita(db):
    return get_user_model().objects.create_user("rita-reviewer", email="rita@contoso.example")


@pytest.fixture
def rob(db):
    return get_user_model().objects.create_user("rob-reviewer", email="rob@contoso.example")


@pytest.fixture
def make_campaign(mirror, admin):
    def make(reviewers=(), roles=(), **fields) -> Campaign:
        values = {
            "tenant": mirror.tenant,
            "name": "Quarterly privileged SP review",
            "start_at": NOW,
            "reviewer_mode": Campaign.ReviewerMode.NAMED,
            "duration_days": 14,
            "justification": Campaign.Justification.NONE,
        }
        values.update(fields)
        return services.create_campaign(
            Campaign(**values), roles=list(roles), reviewers=list(reviewers), actor=admin
        )

    return make


@pytest.fixture
def world(db) -> World:
    """The review pages' running cycle (see `page_factories.make_world`)."""
    return make_world()


# --- the emails' cycle ----------------------------------------------------------------------


def entra_owner(mirror, user, oid: str, display_name: str) -> dict:
    """Link `user` to an Entra oid and return the owner entry Graph gives for them."""
    EntraAccount.objects.create(
        user=user,
        tenant=mirror.tenant,
        object_id=oid,
        user_principal_name=user.email,
        display_name=display_name,
    )
    return {
        "id": oid,
        "type": "#microsoft.graph.user",
        "displayName": display_name,
        "userPrincipalName": user.email,
        "mail": user.email,
    }


@pytest.fixture
def cycle(mirror, make_campaign, rita, rob) -> Cycle:
    """Rita owns three principals (one with a hostile name), Rob one; reminders 7 and 3 days
    before the end of a 14-day cycle that started at NOW."""
    rita_entry = entra_owner(mirror, rita, "oid-rita", HOSTILE_PERSON)
    rob_entry = entra_owner(mirror, rob, "oid-rob", "Rob Reviewer")
    for name, role in (
        ("Payroll connector", mirror.global_admin),
        ("Backup agent", mirror.app_admin),
        (HOSTILE_APP, mirror.global_admin),
    ):
        mirror.assign(mirror.principal(name, owners=[rita_entry]), role)
    mirror.assign(mirror.principal("CRM sync", owners=[rob_entry]))
    campaign = make_campaign(
        reviewer_mode=Campaign.ReviewerMode.OWNERS,
        reminder_days=[7, 3],
        invitation_text="Ask Ada before revoking anything used by payroll.",
    )
    started = services.start_cycle(campaign.pk, now=NOW)
    assert started is not None
    return started
