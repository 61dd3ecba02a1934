"""`identities.graph.removals.remove` against the simulator: one request per call, the right one."""

from __future__ import annotations

import pytest

from identities.graph import GraphClient
from identities.graph.auth import GraphSettings, TokenProvider
from identities.graph.errors import GraphError
from identities.graph.removals import (
    ALREADY_GONE,
    REMOVED,
    Privilege,
    RemovalImpossible,
    RemovalUnconfirmed,
    remove,
)

from .apply_helpers import removal_requests

WHY = "spreview review: revoked"


def sp_direct(sim):
    tenant = sim.tenant
    privileged = tenant.privileged_role_ids()
    return next(
        ra
        for ra in tenant.role_assignments
        if ra.schedule_id is None
        and ra.principal_id in tenant.service_principals
        and ra.role_definition_id in privileged
    )


def sp_schedule(sim, kind: str):
    tenant = sim.tenant
    store = tenant.eligibility_schedules if kind == "eligible" else tenant.assignment_schedules
    return next(
        s
        for s in store
        if s.member_type == "Direct"
        and s.principal_id in tenant.service_principals
        and s.role_definition_id in tenant.privileged_role_ids()
        and (kind == "eligible" or s.assignment_type == "Assigned")
    )


def direct_privilege(ra) -> Privilege:
    return Privilege(
        kind="active",
        granted_via="direct",
        principal_id=ra.principal_id,
        role_id=ra.role_definition_id,
        directory_scope_id=ra.directory_scope_id,
        role_assignment_id=ra.id,
    )


def schedule_privilege(schedule, kind: str) -> Privilege:
    return Privilege(
        kind=kind,
        granted_via="pim",
        principal_id=schedule.principal_id,
        role_id=schedule.role_definition_id,
        directory_scope_id=schedule.directory_scope_id,
        role_assignment_id=schedule.role_assignment_id or "",
    )


def held(sim, privilege: Privilege) -> bool:
    wanted = (
        privilege.principal_id,
        privilege.role_id,
        privilege.directory_scope_id,
        privilege.kind,
    )
    return wanted in sim.tenant.expected_privileged_sp_assignments()


@pytest.fixture
def client(graph_settings):
    graph = GraphClient.from_settings()
    yield graph
    graph.close()


def test_a_direct_assignment_is_deleted_and_a_second_delete_finds_it_already_gone(sim, client):
    privilege = direct_privilege(sp_direct(sim))

    assert remove(client, privilege, WHY) == REMOVED
    assert not held(sim, privilege)
    assert remove(client, privilege, WHY) == ALREADY_GONE

    deletes = removal_requests(sim)
    assert [(r.method, r.status) for r in deletes] == [("DELETE", 204), ("DELETE", 404)]
    # The 404 was confirmed by reading the assignment, which is not a second removal.
    confirm = [
        r for r in sim.requests if r.method == "GET" and privilege.role_assignment_id in r.path
    ]
    assert [r.status for r in confirm] == [404]


@pytest.mark.parametrize(
    ("kind", "endpoint"),
    [
        ("active", "roleAssignmentScheduleRequests"),
        ("eligible", "roleEligibilityScheduleRequests"),
    ],
)
def test_a_pim_schedule_is_admin_removed_and_a_second_request_finds_it_already_gone(
    sim, client, kind, endpoint
):
    privilege = schedule_privilege(sp_schedule(sim, kind), kind)

    assert remove(client, privilege, WHY) == REMOVED
    assert not held(sim, privilege)
    assert remove(client, privilege, WHY) == ALREADY_GONE

    posts = removal_requests(sim)
    assert [(r.method, r.status) for r in posts] == [("POST", 201), ("POST", 400)]
    assert all(endpoint in r.path for r in posts)


def test_a_pim_active_assignment_goes_with_the_role_assignment_that_backs_it(sim, client):
    schedule = sp_schedule(sim, "active")
    backing = schedule.role_assignment_id
    assert backing in sim.tenant.role_assignments

    remove(client, schedule_privilege(schedule, "active"), WHY)

    assert backing not in sim.tenant.role_assignments
    assert schedule.id not in sim.tenant.assignment_schedules


def test_does_not_exist_while_the_schedule_is_still_listed_is_retried_later(sim, client):
    schedule = sp_schedule(sim, "eligible")
    privilege = schedule_privilege(schedule, "eligible")
    sim.faults.forbid(
        "roleEligibilityScheduleRequests",
        status=400,
        code="RoleAssignmentDoesNotExist",
        message="The Role assignment does not exist.",
    )

    with pytest.raises(RemovalUnconfirmed) as raised:
        remove(client, privilege, WHY)

    assert raised.value.is_transient
    assert raised.value.code == "RoleAssignmentDoesNotExist"
    assert held(sim, privilege)


def test_a_404_on_delete_while_graph_still_lists_the_assignment_is_retried_later(sim, client):
    ra = sp_direct(sim)
    sim.faults.unavailable(times=1, status=404, path_contains=ra.id)

    with pytest.raises(RemovalUnconfirmed) as raised:
        remove(client, direct_privilege(ra), WHY)

    assert raised.value.is_transient
    assert ra.id in sim.tenant.role_assignments


def test_a_direct_assignment_without_its_id_fails_for_good_without_calling_graph(sim, client):
    privilege = Privilege("active", "direct", "p", "r", "/", role_assignment_id="")

    with pytest.raises(RemovalImpossible) as raised:
        remove(client, privilege, WHY)

    assert not raised.value.is_transient
    assert raised.value.code == "NoRoleAssignmentId"
    assert removal_requests(sim) == []


def test_an_unknown_kind_fails_for_good(sim, client):
    with pytest.raises(RemovalImpossible) as raised:
        remove(client, Privilege("app_permission", "direct", "p", "r", "/", "x"), WHY)

    assert not raised.value.is_transient
    assert removal_requests(sim) == []


def test_a_fractional_retry_after_is_honoured_before_sending_the_removal_again(sim, graph_settings):
    waits: list[float] = []
    client = GraphClient(
        TokenProvider(GraphSettings.from_django()),
        graph_settings.GRAPH_URL,
        max_backoff=5.0,
        sleep=waits.append,
    )
    privilege = direct_privilege(sp_direct(sim))
    sim.faults.throttle(times=2, retry_after=0.35, path_contains="roleAssignments/")

    assert remove(client, privilege, WHY) == REMOVED

    assert waits == [0.35, 0.35]
    assert [r.status for r in removal_requests(sim)] == [429, 429, 204]
    assert removal_requests(sim, reached_tenant=True)[0].status == 204


def test_a_permanent_error_is_raised_with_graphs_code_and_not_retried(sim, client):
    privilege = schedule_privilege(sp_schedule(sim, "active"), "active")
    sim.faults.forbid(
        "roleAssignmentScheduleRequests",
        status=400,
        code="InvalidScheduleRequest",
        message="The schedule request is not valid for this role.",
    )

    with pytest.raises(GraphError) as raised:
        remove(client, privilege, WHY)

    assert raised.value.status == 400
    assert raised.value.code == "InvalidScheduleRequest"
    assert not raised.value.is_transient
    assert len(removal_requests(sim)) == 1
