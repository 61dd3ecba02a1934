"""A small mirrored tenant for service-level review tests, built directly as rows; and the
running cycle the page tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from identities.models import Assignment, RoleDefinition, ServicePrincipal, Tenant
from reviews import services
from reviews.models import Campaign

from .page_factories import World, make_world

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


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
