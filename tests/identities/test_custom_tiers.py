"""A classification file of the admin's own, end to end: the sync stamps its tiers and reasons on
the mirror, the inventory and the principal page show them, and campaigns scope on them."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from identities import sync
from identities.models import Assignment, RoleDefinition

pytestmark = pytest.mark.django_db

GRAPH = "00000003-0000-0000-c000-000000000000"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
OURS = "Our own reason: it only reads the board mailboxes."


def test_a_custom_file_changes_tiers_on_the_mirror_and_the_pages(
    graph_settings, sim, settings, tmp_path, as_auditor
):
    assert sim.tenant.expected_app_permission_grants(), "the tenant must hold permissions"
    assert sync.sync_configured_tenant(trigger="test").status == "succeeded"
    permission = (
        RoleDefinition.objects.filter(privilege_type="app_permission", tier=0)
        .exclude(assignments=None)
        .first()
    )
    assert permission is not None and permission.tier_source == "built-in"
    path = tmp_path / "tiers.json"
    path.write_text(
        json.dumps(
            {
                "format": "spreview-tiers/1",
                "directoryRoles": [{"templateId": GLOBAL_ADMIN, "tier": None}],
                "applicationPermissions": [
                    {
                        "resourceAppId": permission.resource_app_id,
                        "value": permission.value,
                        "tier": 2,
                        "why": OURS,
                    }
                ],
            }
        )
    )
    settings.TIER_CLASSIFICATION_FILE = str(path)

    assert sync.sync_configured_tenant(trigger="test").status == "succeeded"

    permission.refresh_from_db()
    assert (permission.tier, permission.tier_reason, permission.tier_source) == (
        2,
        OURS,
        "tiers.json",
    )
    global_admin = RoleDefinition.objects.get(template_id=GLOBAL_ADMIN, privilege_type="role")
    assert (global_admin.tier, global_admin.tier_reason) == (None, "")
    others = RoleDefinition.objects.filter(privilege_type="app_permission", tier=0)
    assert others.exists() and set(others.values_list("tier_source", flat=True)) == {"built-in"}

    holder = Assignment.objects.current().filter(role=permission).first().principal
    page = as_auditor.get(reverse("identities:principal", args=[holder.pk])).content.decode()
    assert OURS in page
    listed = as_auditor.get(reverse("identities:inventory"), {"tier": "2", "q": holder.object_id})
    assert permission.value in listed.content.decode()
