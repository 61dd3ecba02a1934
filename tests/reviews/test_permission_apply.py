"""Revoked application permissions against the simulator: each is removed with exactly one
DELETE /servicePrincipals/{resourceId}/appRoleAssignedTo/{id}, also when its task is delivered
twice and under throttling; already gone counts as done; a read-only deployment gets a to-do
naming the grant; a re-grant made after the decision is never touched."""

from __future__ import annotations

from collections import Counter

import pytest

from identities.models import Assignment
from reviews import services
from reviews.models import ApplyStatus, AuditEvent, Campaign, Cycle, ReviewItem

from .apply_helpers import (
    REFUSED_BY_FAULTS,
    apply_all,
    closed_and_queued,
    fresh_task_client,  # noqa: F401  (fixture)
    graph_remover,
    open_cycle,
    reviewer,
    sync_tenant,
)

pytestmark = pytest.mark.django_db

GRAPH = "00000003-0000-0000-c000-000000000000"


def revoke_permissions(user, **fields) -> tuple[Cycle, list[ReviewItem]]:
    """Mirror the tenant, review its application permissions with "revoke" as the default,
    close, queue the apply."""
    sync_tenant()
    cycle = open_cycle(user, privileges=Campaign.Privileges.PERMISSIONS, **fields)
    return cycle, closed_and_queued(cycle, user)


def grant(item: ReviewItem) -> tuple[str, str, str]:
    """The item as the simulator's `expected_app_permission_grants()` lists it."""
    return (item.principal_object_id, item.resource_object_id, item.role_object_id)


def held(sim) -> set[tuple[str, str, str]]:
    return sim.tenant.expected_app_permission_grants()


def deletes(sim, *, reached_tenant: bool = False) -> list:
    """DELETEs of application permission grants in the simulator's request log."""
    found = [r for r in sim.requests if r.method == "DELETE" and "/appRoleAssignedTo/" in r.path]
    if reached_tenant:
        found = [r for r in found if r.status not in REFUSED_BY_FAULTS]
    return found


def deletes_per_grant(sim, items: list[ReviewItem], **kwargs) -> dict[int, int]:
    counted = Counter(r.target for r in deletes(sim, **kwargs))
    return {item.pk: counted[item.role_assignment_id] for item in items}


def test_revoked_permissions_are_gone_from_entra_id_with_one_delete_each(graph_settings, sim):
    rita = reviewer()
    cycle, items = revoke_permissions(rita)
    assert items and {i.privilege_type for i in items} == {"app_permission"}
    assert {grant(i) for i in items} == held(sim)

    results = apply_all(items, graph_remover())

    assert set(results.values()) == {services.APPLIED}
    assert held(sim) == set()
    assert deletes_per_grant(sim, items) == {i.pk: 1 for i in items}
    assert {r.status for r in deletes(sim)} == {204}
    for request in deletes(sim):  # on the resource API's principal, by the grant's id
        item = next(i for i in items if i.role_assignment_id == request.target)
        assert f"/servicePrincipals/{item.resource_object_id}/appRoleAssignedTo/" in request.path
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED
    # The mirror records the removal at once, as for roles.
    assert not Assignment.objects.current().filter(kind=Assignment.Kind.APP_PERMISSION).exists()


def test_audit_events_name_the_permission_its_api_and_tier(graph_settings, sim):
    rita = reviewer()
    _cycle, items = revoke_permissions(rita)
    item = next(i for i in items if i.tier == 0)

    services.apply_item(item.pk, graph_remover())

    event = AuditEvent.objects.get(action="reviews.removal.applied", item_id=item.pk)
    assert f"{item.role_name} on {item.resource_name} (Tier 0)" in event.summary
    assert event.new["privilege"] == item.role_name
    assert event.new["api"] == item.resource_name
    assert event.new["tier"] == 0


def test_every_task_delivered_twice_still_sends_one_delete_per_permission(
    graph_settings,
    sim,
    fresh_task_client,  # noqa: F811
):
    from reviews.tasks import apply_revocation

    rita = reviewer()
    _cycle, items = revoke_permissions(rita)

    for item in items:
        apply_revocation.apply(args=(item.pk,))
        apply_revocation.apply(args=(item.pk,))  # the duplicate delivery finds nothing to do

    assert held(sim) == set()
    assert deletes_per_grant(sim, items) == {i.pk: 1 for i in items}
    assert AuditEvent.objects.filter(action="reviews.removal.applied").count() == len(items)


def test_throttled_deletes_are_retried_and_each_permission_reaches_graph_once(graph_settings, sim):
    rita = reviewer()
    _cycle, items = revoke_permissions(rita)
    # Five refusals in a row (the client gives up at six), then each DELETE goes through.
    sim.faults.throttle(times=3, retry_after=0.05, path_contains="appRoleAssignedTo/")
    sim.faults.unavailable(
        times=2, status=503, retry_after=0.05, path_contains="appRoleAssignedTo/"
    )

    results = apply_all(items, graph_remover())

    assert set(results.values()) == {services.APPLIED}
    assert held(sim) == set()
    assert Counter(r.status for r in deletes(sim) if r.status != 204) == {429: 3, 503: 2}
    assert deletes_per_grant(sim, items, reached_tenant=True) == {i.pk: 1 for i in items}


def test_a_permission_removed_in_entra_id_before_apply_is_already_gone(graph_settings, sim):
    rita = reviewer()
    _cycle, items = revoke_permissions(rita)
    item = items[0]
    assert sim.tenant.remove_app_role_assignment(item.role_assignment_id)

    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED

    item.refresh_from_db()
    assert item.apply_status == ApplyStatus.ALREADY_GONE
    assert [r.status for r in deletes(sim)] == [404]
    assert AuditEvent.objects.filter(action="reviews.removal.already_gone").count() == 1


def test_a_regrant_between_decision_and_apply_is_left_in_place(graph_settings, sim):
    """The re-grant is a new appRoleAssignment: the DELETE of the decided id finds nothing,
    the item is already gone, and the new grant stays for the next review."""
    rita = reviewer()
    _cycle, items = revoke_permissions(rita)
    item = next(i for i in items if i.resource_name == "Microsoft Graph")
    sim.tenant.remove_app_role_assignment(item.role_assignment_id)
    new_id = sim.tenant.add_app_role_assignment(item.principal_object_id, GRAPH, item.role_name)
    assert new_id != item.role_assignment_id
    assert grant(item) in held(sim)

    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED

    item.refresh_from_db()
    assert item.apply_status == ApplyStatus.ALREADY_GONE
    assert grant(item) in held(sim)  # the new grant is intact
    assert [r.target for r in deletes(sim)] == [item.role_assignment_id]


def test_with_graph_writes_disabled_a_permission_becomes_a_to_do_naming_it(
    graph_settings,
    sim,
    fresh_task_client,  # noqa: F811
):
    from reviews.tasks import apply_revocation

    graph_settings.GRAPH_WRITE_ENABLED = False
    rita = reviewer()
    _cycle, items = revoke_permissions(rita)
    item = items[0]

    apply_revocation.apply(args=(item.pk,))

    item.refresh_from_db()
    assert item.apply_status == ApplyStatus.MANUAL
    assert item.role_name in item.apply_error
    assert item.resource_name in item.apply_error
    assert item.role_assignment_id in item.apply_error
    assert deletes(sim) == []
    assert grant(item) in held(sim)
    assert AuditEvent.objects.filter(action="reviews.removal.todo", item_id=item.pk).exists()


def test_a_read_only_app_gets_403_and_the_to_do_asks_for_the_write_permission(graph_settings, sim):
    rita = reviewer()
    cycle, items = revoke_permissions(rita)
    item = items[0]
    sim.faults.forbid("appRoleAssignedTo/")

    assert services.apply_item(item.pk, graph_remover()) == services.TODO

    item.refresh_from_db()
    assert item.apply_status == ApplyStatus.MANUAL
    assert "AppRoleAssignment.ReadWrite.All" in item.apply_error
    sim.faults.clear()
    assert services.retry_failed(cycle.pk, actor=rita) == 1
    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED
    assert grant(item) not in held(sim)


def test_a_permanent_error_is_shown_and_a_retry_removes_the_permission(graph_settings, sim):
    rita = reviewer()
    cycle, items = revoke_permissions(rita)
    item = items[0]
    sim.faults.forbid(
        "appRoleAssignedTo/", status=400, code="Request_BadRequest", message="Locked by policy."
    )

    assert services.apply_item(item.pk, graph_remover()) == services.FAILED

    item.refresh_from_db()
    assert (item.apply_status, item.apply_error_code) == (ApplyStatus.FAILED, "Request_BadRequest")
    assert "Locked by policy." in item.apply_error
    assert grant(item) in held(sim)
    sim.faults.clear()
    assert services.retry_failed(cycle.pk, actor=rita) == 1
    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED
    assert grant(item) not in held(sim)
    assert deletes_per_grant(sim, [item], reached_tenant=True) == {item.pk: 2}


def test_a_retry_after_a_lost_worker_reads_first_and_sends_no_second_delete(graph_settings, sim):
    """The first DELETE landed but its worker died before recording it: the retry lists the
    principal's grants, finds the id gone, and confirms instead of sending again."""
    from .apply_helpers import graph_inspector

    rita = reviewer()
    _cycle, items = revoke_permissions(rita)
    item = items[0]

    def dies_after_sending(privilege, justification):
        graph_remover()(privilege, justification)
        raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        services.apply_item(item.pk, dies_after_sending)
    ReviewItem.objects.filter(pk=item.pk).update(apply_status=ApplyStatus.QUEUED)

    result = services.apply_item(item.pk, graph_remover(), inspect=graph_inspector())

    item.refresh_from_db()
    assert result == services.APPLIED
    assert item.apply_status == ApplyStatus.APPLIED
    assert deletes_per_grant(sim, [item]) == {item.pk: 1}
    event = AuditEvent.objects.get(action="reviews.removal.applied", item_id=item.pk)
    assert event.new.get("confirmed_on_retry") is True


def test_a_campaign_over_roles_and_permissions_applies_both(graph_settings, sim):
    rita = reviewer()
    sync_tenant()
    cycle = open_cycle(rita, privileges=Campaign.Privileges.BOTH)
    kinds = Counter(cycle.items.values_list("privilege_type", flat=True))
    assert kinds["role"] == len(sim.tenant.expected_privileged_sp_assignments())
    assert kinds["app_permission"] == len(held(sim))
    items = closed_and_queued(cycle, rita)

    apply_all(items, graph_remover())

    assert held(sim) == set()
    assert sim.tenant.expected_privileged_sp_assignments() == set()
    permission_items = [i for i in items if i.privilege_type == "app_permission"]
    assert deletes_per_grant(sim, permission_items) == {i.pk: 1 for i in permission_items}


def test_a_principal_deleted_since_the_review_holds_nothing_to_remove(graph_settings, sim):
    from identities.graph import GraphClient
    from identities.graph.removals import ALREADY_GONE, Privilege, current_grants, remove

    gone = Privilege(
        kind="app_permission",
        granted_via="app_role",
        principal_id="00000000-dead-0000-0000-000000000000",
        role_id="00000000-0000-0000-0000-000000000001",
        directory_scope_id="/",
        role_assignment_id="no-such-grant",
        resource_id=next(iter(held(sim)))[1],
    )
    client = GraphClient.from_settings()

    assert current_grants(client, gone) == []
    assert remove(client, gone, "spreview review: revoked") == ALREADY_GONE
    assert [r.status for r in deletes(sim)] == [404]
