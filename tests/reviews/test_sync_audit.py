"""Removals the sync detects in Entra ID are written to the audit log, in the sweep itself."""

from __future__ import annotations

import pytest

from identities import sync
from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_removal_found_by_the_sync_is_audited_once(graph_settings, sim):
    sync.sync_configured_tenant(trigger="test")
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)

    run = sync.sync_configured_tenant(trigger="test")
    sync.sync_configured_tenant(trigger="test")

    events = AuditEvent.objects.filter(action="identities.assignment.removed")
    assert events.count() == run.assignments_removed == 1
    event = events.get()
    assert event.actor_label == "system"
    assert event.new == {"sync_run": run.pk, "principal": principal_id}
    assert event.tenant_id == sim.tenant.tenant_id


def test_a_failed_sync_audits_no_removal(graph_settings, sim):
    sync.sync_configured_tenant(trigger="test")
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)
    sim.faults.forbid("servicePrincipals", status=403, code="Authorization_RequestDenied")

    run = sync.sync_configured_tenant(trigger="test")

    assert run.status == "failed"
    assert not AuditEvent.objects.filter(action="identities.assignment.removed").exists()
