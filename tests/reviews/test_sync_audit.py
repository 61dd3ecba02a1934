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


def test_a_revocation_granted_again_in_entra_is_flagged_once(graph_settings, sim, settings):
    from reviews.models import ReviewItem

    from .apply_helpers import apply_all, graph_remover, reviewer, revoke_everything, triple

    user = reviewer()
    _, items = revoke_everything(user)
    apply_all(items, graph_remover())
    item = ReviewItem.objects.get(pk=items[0].pk)
    assert item.apply_status == "applied"
    sync.sync_configured_tenant(trigger="test")  # Entra agrees: gone
    principal_id, role_id, scope, kind = triple(item)
    sim.tenant.add_role_assignment(principal_id, role_id, scope, kind=kind)
    settings.REGRANT_GRACE_MINUTES = 0

    sync.sync_configured_tenant(trigger="test")
    sync.sync_configured_tenant(trigger="test")

    flagged = ReviewItem.objects.exclude(regranted_at=None)
    assert list(flagged.values_list("pk", flat=True)) == [item.pk]
    events = AuditEvent.objects.filter(action="reviews.assignment.regranted")
    assert events.count() == 1
    assert events.get().item_id == item.pk


def test_a_listing_right_after_the_removal_is_lag_not_a_regrant(graph_settings, sim):
    from reviews.models import ReviewItem

    from .apply_helpers import apply_all, graph_remover, reviewer, revoke_everything, triple

    _, items = revoke_everything(reviewer())
    apply_all(items, graph_remover())
    principal_id, role_id, scope, kind = triple(ReviewItem.objects.get(pk=items[0].pk))
    sim.tenant.add_role_assignment(principal_id, role_id, scope, kind=kind)  # still listed

    sync.sync_configured_tenant(trigger="test")

    assert not ReviewItem.objects.exclude(regranted_at=None).exists()
    assert not AuditEvent.objects.filter(action="reviews.assignment.regranted").exists()
