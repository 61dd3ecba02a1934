"""The Graph client against the simulator: paging, retries, typed errors, no token in logs."""

from __future__ import annotations

import logging

import pytest

from identities.graph import GraphClient, GraphError, GraphForbidden, GraphNotFound


@pytest.fixture
def waits():
    return []


@pytest.fixture
def client(graph_settings, waits):
    graph = GraphClient.from_settings()
    graph.sleep = waits.append
    yield graph
    graph.close()


def test_it_follows_next_links_through_every_page(client, sim):
    pages = list(client.iter_pages("roleManagement/directory/roleDefinitions"))

    assert len(pages) > 1
    assert all(len(page) <= 10 for page in pages)
    ids = [d["id"] for page in pages for d in page]
    assert len(ids) == len(set(ids))
    listing = [r for r in sim.requests if "roleDefinitions" in r.path]
    assert len(listing) == len(pages)
    assert all("skiptoken" in r.path.lower() for r in listing[1:])


def test_it_refuses_to_send_its_token_outside_graph(client):
    with pytest.raises(GraphError):
        client.url("https://evil.example/v1.0/servicePrincipals")


def test_throttling_waits_the_fractional_retry_after(client, sim, waits):
    sim.faults.throttle(times=2, retry_after=0.15)

    client.get("servicePrincipals", params={"$top": 1})

    assert waits == [0.15, 0.15]
    assert client.stats.retries == 2


def test_unavailable_without_retry_after_backs_off_with_a_cap(client, sim, waits):
    sim.faults.unavailable(times=3, status=503)

    client.get("servicePrincipals", params={"$top": 1})

    assert len(waits) == 3
    assert all(0 < w <= 0.2 for w in waits)


def test_it_gives_up_after_the_last_attempt_with_graphs_code_and_request_id(client, sim, waits):
    sim.faults.unavailable(times=50, status=503, retry_after=0.01)

    with pytest.raises(GraphError) as failure:
        client.get("servicePrincipals")

    assert failure.value.status == 503
    assert failure.value.code == "ServiceUnavailable"
    assert failure.value.request_id
    assert len(waits) == client.max_attempts - 1


def test_missing_objects_and_refusals_have_their_own_types(client, sim, waits):
    with pytest.raises(GraphNotFound) as missing:
        client.get("servicePrincipals/00000000-0000-0000-0000-000000000001")
    assert missing.value.code == "Request_ResourceNotFound"

    sim.faults.forbid("servicePrincipals", status=403, code="Authorization_RequestDenied")
    with pytest.raises(GraphForbidden):
        client.get("servicePrincipals")
    assert waits == []


def test_no_token_reaches_a_log_line(client, sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.faults.throttle(times=1, retry_after=0.01)
    sim.faults.unavailable(times=1, status=503)
    token = client.tokens.token()

    client.get("servicePrincipals", params={"$top": 1})
    with pytest.raises(GraphNotFound):
        client.get("servicePrincipals/00000000-0000-0000-0000-000000000001")

    assert caplog.records
    assert token not in caplog.text
    assert sim.tenant.client_secret not in caplog.text
