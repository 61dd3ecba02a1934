"""The tests' one factories module: rows of the tenant mirror, the cast of personas, and the
review builders, made with the ORM and the real services.

The cast (one user each, the same in every test): Ada the admin (`ada-admin`), Bob the auditor
(`bob-auditor`), the owner-reviewers Anna and Ben of the shared running cycle (`make_world`),
Rita and Rob the named reviewers of the service and email tests, and Otto the outsider. Plain
functions, so that tests may call them with their own arguments; the fixtures built on them are
in tests/conftest.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.models import EntraAccount
from accounts.permissions import AUDITOR_GROUP
from identities.models import (
    Application,
    Assignment,
    RoleDefinition,
    ServicePrincipal,
    SyncRun,
    Tenant,
)
from reviews import services
from reviews.models import AuditEvent, Campaign, Cycle, Decision, ReviewItem

TENANT_ID = "11111111-1111-1111-1111-111111111111"
OTHER_TENANT_ID = "22222222-2222-2222-2222-222222222222"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"
HOSTILE_APP = "<script>alert(1)</script> sync"
HOSTILE_PERSON = 'Rita <img src=x onerror="alert(2)">'

ADMIN = "ada-admin"
AUDITOR = "bob-auditor"
PASSWORD = "pw"

_ids = itertools.count(1)


def unique_id(prefix: str) -> str:
    """A made-up Graph object id, unique in the test run."""
    return f"{prefix}-{next(_ids):08d}"


# --- the tenant mirror ------------------------------------------------------------------------


def make_tenant(
    tenant_id: str = TENANT_ID, display_name: str = "Contoso", *, synced: bool = True
) -> Tenant:
    """The tenant (created once per id); `synced` stamps a first sync so pages show its rows."""
    tenant, _ = Tenant.objects.get_or_create(
        tenant_id=tenant_id, defaults={"display_name": display_name or tenant_id}
    )
    if synced and tenant.last_synced_at is None:
        tenant.last_synced_at = timezone.now()
        tenant.save(update_fields=["last_synced_at"])
    return tenant


def make_role(tenant: Tenant, display_name: str, *, privileged: bool = True) -> RoleDefinition:
    return RoleDefinition.objects.create(
        tenant=tenant,
        object_id=unique_id("role"),
        template_id=unique_id("tmpl"),
        display_name=display_name,
        is_privileged=privileged,
    )


GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def make_permission(
    tenant: Tenant,
    value: str,
    *,
    resource_name: str = "Microsoft Graph",
    resource_app_id: str = GRAPH_APP_ID,
    tier: int | None = None,
    tier_reason: str = "",
    **fields: Any,
) -> RoleDefinition:
    """An application permission (an appRole of a resource API) as the sync mirrors it: one
    definition per resource, named by its value."""
    resource_object_id = fields.pop("resource_object_id", f"res-{resource_app_id}")
    return RoleDefinition.objects.create(
        tenant=tenant,
        privilege_type=RoleDefinition.PrivilegeType.APP_PERMISSION,
        object_id=unique_id("approle"),
        resource_object_id=resource_object_id,
        resource_app_id=resource_app_id,
        resource_name=resource_name,
        value=value,
        display_name=value,
        description=fields.pop("description", f"{value} (description)"),
        tier=tier,
        tier_reason=tier_reason,
        tier_source="built-in" if tier is not None else "",
        is_privileged=True,
        **fields,
    )


def make_grant(
    principal: ServicePrincipal, permission: RoleDefinition, **fields: Any
) -> Assignment:
    """The principal holds `permission` (an appRoleAssignment)."""
    values: dict[str, Any] = {
        "kind": Assignment.Kind.APP_PERMISSION,
        "granted_via": Assignment.Granted.APP_ROLE,
        "role_assignment_id": unique_id("ara"),
        "starts_at": timezone.now() - timedelta(days=30),
    }
    values.update(fields)
    return make_assignment(principal, permission, **values)


def make_application(
    tenant: Tenant, principal: ServicePrincipal | None = None, **fields: Any
) -> Application:
    """An app registration; with `principal`, linked to it as the sync does (state "found")."""
    values: dict[str, Any] = {
        "object_id": unique_id("appobj"),
        "app_id": principal.app_id if principal is not None else unique_id("app"),
        "display_name": principal.display_name if principal is not None else "",
    }
    values.update(fields)
    values.setdefault("owner_count", len(values.get("owners") or []))
    application = Application.objects.create(tenant=tenant, **values)
    if principal is not None:
        principal.application = application
        principal.application_state = "found"
        principal.save(update_fields=["application", "application_state"])
    return application


def make_principal(tenant: Tenant, display_name: str = "", **fields: Any) -> ServicePrincipal:
    """A service principal owned by Olivia (an owner with no account here), signed in now."""
    defaults: dict[str, Any] = {
        "object_id": unique_id("sp"),
        "app_id": unique_id("app"),
        "display_name": display_name or unique_id("principal"),
        "sp_type": ServicePrincipal.Type.APPLICATION,
        "owners": [
            {
                "id": unique_id("user"),
                "type": "#microsoft.graph.user",
                "displayName": "Olivia Owner",
                "userPrincipalName": "olivia@example.test",
                "mail": "olivia@example.test",
            }
        ],
        "owner_count": 1,
        "sign_in_known": True,
        "last_sign_in_at": timezone.now(),
    }
    defaults.update(fields)
    return ServicePrincipal.objects.create(tenant=tenant, **defaults)


def make_owned_principal(
    tenant: Tenant, name: str, *, owners: Any = (), **fields: Any
) -> ServicePrincipal:
    """A principal owned by these Entra-linked users (their review), signed in two days ago,
    with one secret that ends in ten days."""
    values: dict[str, Any] = {
        "owners": [owner_entry(u) for u in owners],
        "owner_count": len(owners),
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
    return make_principal(tenant, name, **values)


def make_assignment(principal: ServicePrincipal, role: RoleDefinition, **fields: Any) -> Assignment:
    defaults: dict[str, Any] = {
        "directory_scope_id": "/",
        "kind": Assignment.Kind.ACTIVE,
        "granted_via": Assignment.Granted.DIRECT,
        "role_assignment_id": unique_id("ra"),
    }
    defaults.update(fields)
    return Assignment.objects.create(
        tenant=principal.tenant, principal=principal, role=role, **defaults
    )


def make_run(tenant: Tenant, **fields: Any) -> SyncRun:
    defaults: dict[str, Any] = {"trigger": "schedule", "status": SyncRun.Status.SUCCEEDED}
    defaults.update(fields)
    if defaults["status"] != SyncRun.Status.RUNNING:
        defaults.setdefault("finished_at", timezone.now())
    return SyncRun.objects.create(tenant=tenant, **defaults)


def owner(oid: str, name: str, kind: str = "user") -> dict:
    """An owner entry as the sync stores it, for someone with no account here yet."""
    return {
        "id": oid,
        "type": kind,
        "displayName": name,
        "userPrincipalName": f"{name.lower()}@contoso.example" if kind == "user" else None,
        "mail": None,
    }


class Mirror:
    """Rows as the sync would have written them, with fixed ids and helpers named for the
    test's intent (the service tests' tenant)."""

    def __init__(self) -> None:
        self.tenant = Tenant.objects.create(tenant_id=TENANT_ID)
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

    def principal(self, name: str, **fields: Any) -> ServicePrincipal:
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
        self,
        principal: ServicePrincipal,
        role: RoleDefinition | None = None,
        *,
        kind: str = "active",
        granted_via: str = "direct",
        scope: str = "/",
        **fields: Any,
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


# --- the cast -------------------------------------------------------------------------------


def make_user(username: str, **fields: Any):
    fields.setdefault("email", f"{username}@contoso.example")
    return get_user_model().objects.create_user(username, password=PASSWORD, **fields)


def make_admin(username: str = ADMIN):
    """Ada (or another staff user): manages campaigns and the tenant."""
    email = "ada@contoso.example" if username == ADMIN else f"{username}@contoso.example"
    return make_user(username, email=email, is_staff=True)


def make_auditor(username: str = AUDITOR):
    """Bob: signed in, reads everything, changes nothing."""
    user = make_user(username)
    group, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
    user.groups.add(group)
    return user


def make_reviewer(username: str, email: str = ""):
    """A reviewer with no Entra link (a named reviewer): Rita, Rob."""
    return get_user_model().objects.create_user(
        username, email=email or f"{username}@contoso.example"
    )


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


def entra_owner(tenant: Tenant, user, oid: str, display_name: str) -> dict:
    """Link `user` to an Entra oid and return the owner entry Graph gives for them."""
    EntraAccount.objects.create(
        user=user,
        tenant=tenant,
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


def owner_entry(user) -> dict[str, str]:
    return {
        "id": user.entra.object_id,
        "type": "#microsoft.graph.user",
        "displayName": user.entra.display_name,
        "userPrincipalName": user.entra.user_principal_name,
        "mail": user.email,
    }


def login(user) -> Client:
    """A client signed in as `user` (anonymous for None)."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# --- campaigns and cycles -------------------------------------------------------------------


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


def make_email_cycle(mirror: Mirror, admin, rita, rob) -> Cycle:
    """Rita owns three principals (one with a hostile name), Rob one; reminders 7 and 3 days
    before the end of a 14-day cycle that started at NOW."""
    rita_entry = entra_owner(mirror.tenant, rita, "oid-rita", HOSTILE_PERSON)
    rob_entry = entra_owner(mirror.tenant, rob, "oid-rob", "Rob Reviewer")
    for name, role in (
        ("Payroll connector", mirror.global_admin),
        ("Backup agent", mirror.app_admin),
        (HOSTILE_APP, mirror.global_admin),
    ):
        mirror.assign(mirror.principal(name, owners=[rita_entry]), role)
    mirror.assign(mirror.principal("CRM sync", owners=[rob_entry]))
    campaign = make_campaign(
        mirror.tenant,
        admin,
        start_at=NOW,
        reviewer_mode=Campaign.ReviewerMode.OWNERS,
        justification=Campaign.Justification.NONE,
        reminder_days=[7, 3],
        invitation_text="Ask Ada before revoking anything used by payroll.",
    )
    started = services.start_cycle(campaign.pk, now=NOW)
    assert started is not None
    return started


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
        "payroll": make_owned_principal(tenant, "Payroll connector", owners=[reviewer_a]),
        "backup": make_owned_principal(
            tenant, "Backup agent", owners=[reviewer_a], last_sign_in_at=None
        ),
        "crm": make_owned_principal(tenant, "CRM sync", owners=[reviewer_b]),
        "orphan": make_owned_principal(tenant, "Orphan app"),
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
        principal = make_owned_principal(tenant, f"App {count}-{n:04d}", owners=[reviewer])
        make_assignment(principal, role)
    campaign = make_campaign(tenant, admin, name=f"Review {count}", roles=[role],
                             role_scope=Campaign.RoleScope.SELECTED)  # fmt: skip
    cycle = start_cycle(campaign)
    for item in ReviewItem.objects.filter(cycle=cycle).order_by("pk")[:3]:
        services.record_decision(item.pk, "revoke", "", actor=reviewer)
    return admin, reviewer, cycle


# --- what the tests read back ---------------------------------------------------------------


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
