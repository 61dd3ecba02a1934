"""Removals through Graph: DELETE for direct assignments, adminRemove for PIM schedules."""

from __future__ import annotations

import json

import pytest

ROLE_MANAGEMENT = "/v1.0/roleManagement/directory"


def removal_body(schedule, action: str = "adminRemove") -> dict:
    return {
        "action": action,
        "principalId": schedule.principal_id,
        "roleDefinitionId": schedule.role_definition_id,
        "directoryScopeId": schedule.directory_scope_id,
        "justification": "Access review: revoked",
    }


def saved_state(sim) -> dict:
    return json.loads((sim.state_dir / "tenant.json").read_text())


def test_delete_removes_a_direct_assignment_then_answers_404(fresh_graph):
    sim = fresh_graph.sim
    direct = next(ra for ra in sim.tenant.role_assignments if ra.schedule_id is None)

    gone = fresh_graph.delete(f"{ROLE_MANAGEMENT}/roleAssignments/{direct.id}")

    assert gone.status_code == 204
    assert gone.content == b""
    assert direct.id not in sim.tenant.role_assignments
    assert direct.id not in {a["id"] for a in saved_state(sim)["role_assignments"]}
    again = fresh_graph.delete(f"{ROLE_MANAGEMENT}/roleAssignments/{direct.id}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "Request_ResourceNotFound"


@pytest.mark.parametrize(
    ("endpoint", "collection", "kind"),
    [
        ("roleAssignmentScheduleRequests", "assignment_schedules", "active"),
        ("roleEligibilityScheduleRequests", "eligibility_schedules", "eligible"),
    ],
)
def test_admin_remove_revokes_a_schedule_then_reports_nothing_to_remove(
    fresh_graph, endpoint, collection, kind
):
    sim = fresh_graph.sim
    store = getattr(sim.tenant, collection)
    schedule = next(
        s
        for s in store
        if s.member_type == "Direct" and s.principal_id in sim.tenant.service_principals
    )
    triple = (schedule.principal_id, schedule.role_definition_id, schedule.directory_scope_id)
    expected_before = sim.tenant.expected_privileged_sp_assignments()

    answer = fresh_graph.post(f"{ROLE_MANAGEMENT}/{endpoint}", removal_body(schedule))

    assert answer.status_code == 201, answer.text
    request = answer.json()
    assert request["status"] == "Revoked"
    assert request["action"] == "adminRemove"
    assert request["id"] and request["createdDateTime"]
    assert schedule.id not in store
    if schedule.role_assignment_id:
        assert schedule.role_assignment_id not in sim.tenant.role_assignments
    assert (*triple, kind) in expected_before
    assert (*triple, kind) not in sim.tenant.expected_privileged_sp_assignments()
    assert schedule.id not in {s["id"] for s in saved_state(sim)[collection]}

    again = fresh_graph.post(f"{ROLE_MANAGEMENT}/{endpoint}", removal_body(schedule))
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "RoleAssignmentDoesNotExist"


def test_other_schedule_request_actions_are_refused(fresh_graph):
    schedule = next(iter(fresh_graph.sim.tenant.eligibility_schedules))

    answer = fresh_graph.post(
        f"{ROLE_MANAGEMENT}/roleEligibilityScheduleRequests",
        removal_body(schedule, action="adminAssign"),
    )

    assert answer.status_code == 400
    assert schedule.id in fresh_graph.sim.tenant.eligibility_schedules


def test_writes_need_a_write_permission_in_the_token(fresh_graph):
    from .simgraph import Graph

    sim = fresh_graph.sim
    sim.tenant.app.roles[:] = ["Application.Read.All", "RoleManagement.Read.Directory"]
    read_only = Graph(sim)
    direct = next(ra for ra in sim.tenant.role_assignments if ra.schedule_id is None)

    assert read_only.get(f"{ROLE_MANAGEMENT}/roleAssignments").status_code == 200
    refused = read_only.delete(f"{ROLE_MANAGEMENT}/roleAssignments/{direct.id}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert direct.id in sim.tenant.role_assignments
