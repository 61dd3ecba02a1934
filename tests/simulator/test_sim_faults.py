"""Fault switches: each does what it says, in-process and over the /_sim HTTP control."""

from __future__ import annotations

import time

import requests

LISTING = "/v1.0/servicePrincipals"


def test_throttle_answers_429_with_a_fractional_retry_after(fresh_graph):
    fresh_graph.sim.faults.throttle(times=2, retry_after=0.5)

    first, second, third = (fresh_graph.get(LISTING) for _ in range(3))

    for answer in (first, second):
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "0.5"
        assert answer.json()["error"]["code"] == "TooManyRequests"
    assert third.status_code == 200


def test_unavailable_answers_503_or_504_and_retry_after_only_when_given(fresh_graph):
    faults = fresh_graph.sim.faults
    faults.unavailable(times=1, status=503, retry_after=2)
    faults.unavailable(times=1, status=504)

    first, second, third = (fresh_graph.get(LISTING) for _ in range(3))

    assert first.status_code == 503
    assert first.json()["error"]["code"] == "ServiceUnavailable"
    assert first.headers["Retry-After"] == "2"
    assert second.status_code == 504
    assert "Retry-After" not in second.headers
    assert third.status_code == 200


def test_path_contains_limits_a_fault_to_matching_requests(fresh_graph):
    fresh_graph.sim.faults.throttle(times=1, path_contains="roleEligibilitySchedules")

    assert fresh_graph.get(LISTING).status_code == 200
    target = "/v1.0/roleManagement/directory/roleEligibilitySchedules"
    assert fresh_graph.get(target).status_code == 429
    assert fresh_graph.get(target).status_code == 200


def test_fail_page_breaks_only_that_page_of_the_listing(fresh_graph):
    fresh_graph.sim.faults.fail_page("servicePrincipals", page=2)

    first = fresh_graph.get(LISTING)
    assert first.status_code == 200
    second_link = first.json()["@odata.nextLink"]
    broken = fresh_graph.get(second_link)
    assert broken.status_code == 500
    assert broken.json()["error"]["code"] == "InternalServerError"

    retried = fresh_graph.get(second_link)
    assert retried.status_code == 200
    assert fresh_graph.get(retried.json()["@odata.nextLink"]).status_code == 200
    assert fresh_graph.get(LISTING).status_code == 200  # a new listing's page 1 is fine


def test_forbid_lasts_until_cleared(fresh_graph):
    faults = fresh_graph.sim.faults
    faults.forbid("servicePrincipals")

    for _ in range(3):
        answer = fresh_graph.get(LISTING)
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "Authorization_RequestDenied"
    assert fresh_graph.get("/v1.0/roleManagement/directory/roleDefinitions").status_code == 200

    faults.clear()
    assert fresh_graph.get(LISTING).status_code == 200


def test_beta_unavailable_answers_404_on_beta_only(fresh_graph):
    fresh_graph.sim.faults.beta_unavailable = True

    beta = fresh_graph.get("/beta/roleManagement/directory/roleDefinitions")
    assert beta.status_code == 404
    assert beta.json()["error"]["code"] == "BadRequest"
    assert "Resource not found for the segment" in beta.json()["error"]["message"]
    assert fresh_graph.get("/v1.0/roleManagement/directory/roleDefinitions").status_code == 200


def test_latency_is_added_to_graph_requests(fresh_graph):
    fresh_graph.get(LISTING)  # warm connection
    fresh_graph.sim.faults.latency = 0.3

    started = time.monotonic()
    assert fresh_graph.get(LISTING).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_and_the_request_log_over_http(fresh_graph):
    sim = fresh_graph.sim
    control = f"{sim.graph_url}/_sim"
    verify = str(sim.ca_path)

    set_faults = requests.post(
        f"{control}/faults",
        json={"throttle": {"times": 1, "retry_after": 1.5}, "beta_unavailable": True},
        verify=verify,
        timeout=10,
    )
    assert set_faults.status_code == 200
    assert fresh_graph.get(LISTING).headers["Retry-After"] == "1.5"
    assert fresh_graph.get("/beta/roleManagement/directory/roleDefinitions").status_code == 404

    log = requests.get(f"{control}/requests", verify=verify, timeout=10).json()["requests"]
    assert [(r["method"], r["status"]) for r in log[-2:]] == [("GET", 429), ("GET", 404)]
    assert log[-2]["path"] == LISTING
    assert [r.status for r in list(sim.requests)[-2:]] == [429, 404]

    refused = requests.post(f"{control}/faults", json={"explode": {}}, verify=verify, timeout=10)
    assert refused.status_code == 400
    requests.delete(f"{control}/faults", verify=verify, timeout=10)
    assert fresh_graph.get(LISTING).status_code == 200


def test_an_out_of_process_test_can_change_the_tenant_over_http(fresh_graph):
    sim = fresh_graph.sim
    control = f"{sim.graph_url}/_sim"
    verify = str(sim.ca_path)
    entry = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    principal_id, role_id, scope, kind = entry

    changed = requests.post(
        f"{control}/tenant",
        json={
            "op": "remove_assignment",
            "args": {
                "principal_id": principal_id,
                "role_definition_id": role_id,
                "directory_scope_id": scope,
                "kind": kind,
            },
        },
        verify=verify,
        timeout=10,
    )
    assert changed.status_code == 200
    assert changed.json()["result"] >= 1

    expected = requests.get(f"{control}/expected", verify=verify, timeout=10).json()
    assert list(entry) not in expected
    assert len(expected) == len(sim.tenant.expected_privileged_sp_assignments())
    refused = requests.post(f"{control}/tenant", json={"op": "to_json"}, verify=verify, timeout=10)
    assert refused.status_code == 400
