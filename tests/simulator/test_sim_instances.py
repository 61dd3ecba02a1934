"""roleAssignmentScheduleInstances: every active assignment, direct or PIM, with when it started;
and the request log naming the grant each removal request acted on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from entrasim.tenant import iso

from .simgraph import Graph

ROLE_MANAGEMENT = "/v1.0/roleManagement/directory"
INSTANCES = f"{ROLE_MANAGEMENT}/roleAssignmentScheduleInstances"


def instances_of(graph: Graph, principal_id: str, role_id: str) -> list[dict]:
    query = f"principalId eq '{principal_id}' and roleDefinitionId eq '{role_id}'"
    return graph.items(INSTANCES, {"$filter": query})


def a_direct_assignment(sim):
    return next(ra for ra in sim.tenant.role_assignments if ra.schedule_id is None)


def a_pim_active_schedule(sim):
    return next(
        s
        for s in sim.tenant.assignment_schedules
        if s.member_type == "Direct" and s.role_assignment_id
    )


def test_it_lists_one_instance_per_active_assignment_direct_or_pim(graph):
    tenant = graph.sim.tenant
    listed = graph.items(INSTANCES)

    direct = [ra for ra in tenant.role_assignments if ra.schedule_id is None]
    assert len(listed) == len(direct) + len(tenant.assignment_schedules)
    assert len({i["id"] for i in listed}) == len(listed)
    assert {i["roleAssignmentScheduleId"] for i in listed} >= {
        s.id for s in tenant.assignment_schedules
    }


def test_it_dates_a_direct_assignment_from_its_creation_and_names_its_role_assignment(graph):
    ra = a_direct_assignment(graph.sim)

    [instance] = [
        i
        for i in instances_of(graph, ra.principal_id, ra.role_definition_id)
        if i["directoryScopeId"] == ra.directory_scope_id
    ]

    assert instance["roleAssignmentOriginId"] == ra.id
    assert instance["startDateTime"] == ra.created_date_time
    assert (instance["assignmentType"], instance["memberType"]) == ("Assigned", "Direct")
    assert set(instance) == {
        "id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId",
        "startDateTime", "endDateTime", "assignmentType", "memberType",
        "roleAssignmentOriginId", "roleAssignmentScheduleId",
    }  # fmt: skip


def test_it_names_the_schedule_behind_a_pim_assignment(graph):
    schedule = a_pim_active_schedule(graph.sim)

    found = [
        i
        for i in instances_of(graph, schedule.principal_id, schedule.role_definition_id)
        if i["roleAssignmentScheduleId"] == schedule.id
    ]

    assert len(found) == 1
    assert found[0]["roleAssignmentOriginId"] == schedule.role_assignment_id
    assert found[0]["startDateTime"] == schedule.start_date_time
    assert graph.get(f"{INSTANCES}/{found[0]['id']}").json()["roleAssignmentScheduleId"] == (
        schedule.id
    )


def test_it_filters_by_schedule_id_and_refuses_unknown_properties(graph):
    schedule = a_pim_active_schedule(graph.sim)

    found = graph.items(INSTANCES, {"$filter": f"roleAssignmentScheduleId eq '{schedule.id}'"})
    refused = graph.get(INSTANCES, params={"$filter": "status eq 'Provisioned'"})

    assert [i["principalId"] for i in found] == [schedule.principal_id]
    assert refused.status_code == 400


def test_a_direct_regrant_keeps_its_id_but_starts_later(fresh_graph):
    sim = fresh_graph.sim
    ra = a_direct_assignment(sim)
    ra.created_date_time = iso(datetime.now(UTC) - timedelta(days=30))
    principal, role, scope = ra.principal_id, ra.role_definition_id, ra.directory_scope_id
    assert fresh_graph.delete(f"{ROLE_MANAGEMENT}/roleAssignments/{ra.id}").status_code == 204
    assert not [i for i in instances_of(fresh_graph, principal, role) if i["id"] == ra.id]

    regranted = sim.tenant.add_role_assignment(principal, role, scope, "active")

    [instance] = [i for i in instances_of(fresh_graph, principal, role) if i["id"] == ra.id]
    assert regranted == ra.id == instance["roleAssignmentOriginId"]
    started = datetime.fromisoformat(instance["startDateTime"].replace("Z", "+00:00"))
    assert started > datetime.now(UTC) - timedelta(minutes=1)


def test_reading_instances_needs_a_role_management_read_permission(fresh_graph):
    sim = fresh_graph.sim
    sim.tenant.app.roles[:] = ["Application.Read.All"]
    refused = Graph(sim).get(INSTANCES)

    sim.tenant.app.roles[:] = ["RoleAssignmentSchedule.Read.Directory"]
    allowed = Graph(sim).get(INSTANCES)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert allowed.status_code == 200


def test_the_request_log_names_the_grant_each_removal_acted_on(fresh_graph):
    sim = fresh_graph.sim
    ra = a_direct_assignment(sim)
    schedule = next(s for s in sim.tenant.eligibility_schedules if s.member_type == "Direct")
    body = {
        "action": "adminRemove",
        "principalId": schedule.principal_id,
        "roleDefinitionId": schedule.role_definition_id,
        "directoryScopeId": schedule.directory_scope_id,
    }

    fresh_graph.delete(f"{ROLE_MANAGEMENT}/roleAssignments/{ra.id}")
    fresh_graph.post(f"{ROLE_MANAGEMENT}/roleEligibilityScheduleRequests", body)
    fresh_graph.get(INSTANCES)

    targets = [(r.method, r.status, r.target) for r in sim.requests if "/v1.0/" in r.path]
    assert targets[-3:] == [
        ("DELETE", 204, ra.id),
        (
            "POST",
            201,
            f"{schedule.principal_id} {schedule.role_definition_id} {schedule.directory_scope_id}",
        ),
        ("GET", 200, ""),
    ]
