"""Rows of the tenant mirror built directly with the ORM, with just enough defaults."""

from __future__ import annotations

import itertools
from typing import Any

from django.utils import timezone

from identities.models import Assignment, RoleDefinition, ServicePrincipal, SyncRun, Tenant

_ids = itertools.count(1)


def unique_id(prefix: str) -> str:
    """A made-up Graph object id, unique in the test run."""
    return f"{prefix}-{next(_ids):08d}"


def make_tenant(tenant_id: str, display_name: str = "") -> Tenant:
    return Tenant.objects.create(tenant_id=tenant_id, display_name=display_name or tenant_id)


def make_role(tenant: Tenant, display_name: str, *, privileged: bool = True) -> RoleDefinition:
    return RoleDefinition.objects.create(
        tenant=tenant,
        object_id=unique_id("role"),
        template_id=unique_id("tmpl"),
        display_name=display_name,
        is_privileged=privileged,
    )


def make_principal(tenant: Tenant, display_name: str = "", **fields: Any) -> ServicePrincipal:
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
