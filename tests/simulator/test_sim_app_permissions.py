"""Application permissions and app registrations, served over HTTPS as Graph serves them."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from entrasim import SimTenant, Simulator, generate_tenant
from entrasim import permissions as catalogue
from entrasim.generate import HOSTILE_NAMES
from entrasim.generate_permissions import GITHUB_ISSUER

from .simgraph import NOW, Graph

GRAPH_SP = f"/v1.0/servicePrincipals(appId='{catalogue.GRAPH_APP_ID}')"


def resource_id(tenant: SimTenant, app_id: str = catalogue.GRAPH_APP_ID) -> str:
    sp = tenant.service_principal_by_app_id(app_id)
    assert sp is not None
    return sp.id


def saved_state(sim: Simulator) -> dict:
    return json.loads((sim.state_dir / "tenant.json").read_text())


def monitored_sp_grant(tenant: SimTenant):
    expected = tenant.expected_app_permission_grants()
    return next(
        g
        for g in tenant.app_role_assignments
        if (g.principal_id, g.resource_id, g.app_role_id) in expected
    )


# ----- resource principals -------------------------------------------------------------------


@pytest.mark.parametrize("resource", catalogue.RESOURCES, ids=lambda r: r.display_name)
def test_each_monitored_api_serves_its_application_permissions_with_the_real_ids(graph, resource):
    answer = graph.get(f"/v1.0/servicePrincipals(appId='{resource.app_id}')")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["appId"] == resource.app_id
    assert body["displayName"] == resource.display_name
    roles = {r["value"]: r for r in body["appRoles"]}
    assert set(roles) == {p.value for p in resource.permissions}
    for role in roles.values():
        assert role["allowedMemberTypes"] == ["Application"]
        assert role["isEnabled"] is True
        assert role["displayName"] and role["description"]


def test_graph_permissions_carry_microsofts_own_app_role_ids(graph, shared_sim):
    by_id = graph.get(f"/v1.0/servicePrincipals/{resource_id(shared_sim.tenant)}").json()
    ids = {r["value"]: r["id"] for r in by_id["appRoles"]}

    assert ids["RoleManagement.ReadWrite.Directory"] == "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"
    assert ids["AppRoleAssignment.ReadWrite.All"] == "06b708a9-e830-4db3-a914-8e69da51d44f"
    assert ids["Application.ReadWrite.All"] == "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
    assert ids["Directory.ReadWrite.All"] == "19dbc75e-c2e2-444c-a770-ec69d8559fc7"
    assert len(ids) >= 30


def test_select_keeps_only_the_app_roles(graph):
    answer = graph.get(GRAPH_SP, params={"$select": "id,appRoles"})

    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"@odata.context", "id", "appRoles"}


# ----- listings ------------------------------------------------------------------------------


def test_app_role_assigned_to_lists_every_holder_page_by_page(graph, shared_sim):
    tenant = shared_sim.tenant
    graph_id = resource_id(tenant)

    pages = list(graph.pages(f"/v1.0/servicePrincipals/{graph_id}/appRoleAssignedTo"))
    items = [item for page in pages for item in page["value"]]

    stored = tenant.app_role_assignments.by_role(graph_id)
    assert len(pages) > 1 and all(len(p["value"]) <= 7 for p in pages)
    assert {i["id"] for i in items} == {g.id for g in stored}
    assert len(items) == len(stored)
    types = Counter(i["principalType"] for i in items)
    assert types["ServicePrincipal"] and types["User"] and types["Group"]
    assert all(i["resourceId"] == graph_id for i in items)
    assert all(i["resourceDisplayName"] == "Microsoft Graph" for i in items)
    sample = items[0]
    assert set(sample) >= {
        "id",
        "appRoleId",
        "principalId",
        "principalType",
        "principalDisplayName",
        "resourceId",
        "resourceDisplayName",
        "createdDateTime",
    }


def test_the_monitored_grants_are_the_service_principal_holders_without_default_access(
    graph, shared_sim
):
    tenant = shared_sim.tenant
    seen: set[tuple[str, str, str]] = set()
    zero = 0
    for app_id in catalogue.MONITORED_RESOURCE_APP_IDS:
        rid = resource_id(tenant, app_id)
        for item in graph.items(f"/v1.0/servicePrincipals/{rid}/appRoleAssignedTo"):
            if item["appRoleId"] == catalogue.DEFAULT_ACCESS_ROLE_ID:
                zero += 1
            elif item["principalType"] == "ServicePrincipal":
                seen.add((item["principalId"], item["resourceId"], item["appRoleId"]))

    assert seen == tenant.expected_app_permission_grants()
    assert len(seen) == 60
    assert zero >= 1


def test_app_role_assignments_lists_what_one_principal_holds(graph, shared_sim):
    tenant = shared_sim.tenant
    grant = monitored_sp_grant(tenant)
    held = tenant.app_role_assignments.by_principal(grant.principal_id)

    items = graph.items(f"/v1.0/servicePrincipals/{grant.principal_id}/appRoleAssignments")

    assert {i["id"] for i in items} == {g.id for g in held}
    assert all(i["principalId"] == grant.principal_id for i in items)


def test_listings_honour_select_and_top(graph, shared_sim):
    graph_id = resource_id(shared_sim.tenant)

    answer = graph.get(
        f"/v1.0/servicePrincipals/{graph_id}/appRoleAssignedTo",
        params={"$select": "principalId,appRoleId", "$top": "3"},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["value"]) == 3
    assert all(set(i) == {"principalId", "appRoleId"} for i in body["value"])
    following = graph.get(body["@odata.nextLink"]).json()["value"]
    assert following and all(set(i) == {"principalId", "appRoleId"} for i in following)
    unknown = graph.get(
        f"/v1.0/servicePrincipals/{graph_id}/appRoleAssignedTo", params={"$select": "nope"}
    )
    assert unknown.status_code == 400


def test_an_unknown_principal_answers_not_found(graph):
    answer = graph.get(
        "/v1.0/servicePrincipals/00000000-1111-2222-3333-444444444444/appRoleAssignedTo"
    )

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "Request_ResourceNotFound"


def test_reading_grants_needs_an_application_read_permission(shared_sim):
    tenant = shared_sim.tenant
    with tenant.lock:
        kept = list(tenant.app.roles)
        tenant.app.roles[:] = ["RoleManagement.Read.Directory"]
    try:
        limited = Graph(shared_sim)
        answer = limited.get(f"{GRAPH_SP}/appRoleAssignedTo")
    finally:
        with tenant.lock:
            tenant.app.roles[:] = kept
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Authorization_RequestDenied"


# ----- faults --------------------------------------------------------------------------------


def test_the_listing_goes_through_throttling_and_page_faults(fresh_graph):
    sim = fresh_graph.sim
    graph_id = resource_id(sim.tenant)
    path = f"/v1.0/servicePrincipals/{graph_id}/appRoleAssignedTo"
    sim.faults.throttle(times=1, retry_after=0.25, path_contains="appRoleAssignedTo")

    throttled = fresh_graph.get(path)
    first = fresh_graph.get(path)
    sim.faults.fail_page("appRoleAssignedTo", page=2, status=503, code="ServiceUnavailable")
    second = fresh_graph.get(first.json()["@odata.nextLink"])

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "0.25"
    assert first.status_code == 200
    assert second.status_code == 503
    assert len(sim.requests.matching("appRoleAssignedTo", method="GET")) == 3


# ----- removal -------------------------------------------------------------------------------


def test_delete_from_the_resource_side_removes_the_grant_once_then_answers_404(fresh_graph):
    sim = fresh_graph.sim
    grant = monitored_sp_grant(sim.tenant)
    triple = (grant.principal_id, grant.resource_id, grant.app_role_id)
    path = f"/v1.0/servicePrincipals/{grant.resource_id}/appRoleAssignedTo/{grant.id}"

    gone = fresh_graph.delete(path)
    again = fresh_graph.delete(path)

    assert gone.status_code == 204 and gone.content == b""
    assert triple not in sim.tenant.expected_app_permission_grants()
    assert grant.id not in {g["id"] for g in saved_state(sim)["app_role_assignments"]}
    assert again.status_code == 404
    error = again.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert error["innerError"]["request-id"]
    deletes = [r for r in sim.requests if r.method == "DELETE" and r.target == grant.id]
    assert [r.status for r in deletes] == [204, 404]


def test_delete_from_the_holder_side_takes_the_same_id(fresh_graph):
    sim = fresh_graph.sim
    grant = monitored_sp_grant(sim.tenant)

    wrong_side = fresh_graph.delete(
        f"/v1.0/servicePrincipals/{grant.principal_id}/appRoleAssignedTo/{grant.id}"
    )
    gone = fresh_graph.delete(
        f"/v1.0/servicePrincipals/{grant.principal_id}/appRoleAssignments/{grant.id}"
    )

    assert wrong_side.status_code == 404  # the holder is not the resource
    assert gone.status_code == 204
    assert grant.id not in sim.tenant.app_role_assignments


def test_delete_needs_app_role_assignment_write(fresh_graph):
    sim = fresh_graph.sim
    grant = monitored_sp_grant(sim.tenant)
    with sim.tenant.lock:
        sim.tenant.app.roles[:] = ["Application.Read.All", "RoleManagement.ReadWrite.Directory"]
    limited = Graph(sim)

    answer = limited.delete(
        f"/v1.0/servicePrincipals/{grant.resource_id}/appRoleAssignedTo/{grant.id}"
    )

    assert answer.status_code == 403
    assert grant.id in sim.tenant.app_role_assignments


def test_test_helpers_grant_and_revoke_by_permission_value(fresh_graph):
    tenant = fresh_graph.sim.tenant
    holder = next(iter(tenant.expected_app_permission_grants()))[0]
    before = tenant.expected_app_permission_grants()

    new_id = tenant.add_app_role_assignment(holder, catalogue.EXCHANGE_APP_ID, "full_access_as_app")
    again = tenant.add_app_role_assignment(holder, catalogue.EXCHANGE_APP_ID, "full_access_as_app")
    items = fresh_graph.items(f"/v1.0/servicePrincipals/{holder}/appRoleAssignments")

    assert again == new_id
    assert new_id in {i["id"] for i in items}
    assert len(tenant.expected_app_permission_grants()) == len(before) + 1
    assert tenant.remove_app_role_assignment(new_id) is True
    assert tenant.remove_app_role_assignment(new_id) is False
    assert tenant.expected_app_permission_grants() == before
    with pytest.raises(ValueError):
        tenant.add_app_role_assignment(holder, catalogue.GRAPH_APP_ID, "No.Such.Permission")


def test_grants_survive_a_restart_of_the_simulator(tmp_path):
    tenant = generate_tenant(privileged_assignments=12, seed=8, now=NOW)
    grant = monitored_sp_grant(tenant)
    with Simulator(tenant, state_dir=tmp_path, page_size=5) as sim:
        assert (
            Graph(sim)
            .delete(f"/v1.0/servicePrincipals/{grant.resource_id}/appRoleAssignedTo/{grant.id}")
            .status_code
            == 204
        )
        expected = tenant.expected_app_permission_grants()
        applications = {a.id: a.to_dict() for a in tenant.applications.values()}

    reloaded = Simulator.load(tmp_path)

    assert reloaded.tenant.expected_app_permission_grants() == expected
    assert grant.id not in reloaded.tenant.app_role_assignments
    assert {a.id: a.to_dict() for a in reloaded.tenant.applications.values()} == applications
    roles = reloaded.tenant.service_principal_by_app_id(catalogue.GRAPH_APP_ID).app_roles
    assert len(roles) == len(catalogue.GRAPH_PERMISSIONS)


def test_a_state_file_from_before_permissions_still_loads():
    tenant = generate_tenant(privileged_assignments=5, seed=1, now=NOW)
    old = tenant.to_dict()
    del old["app_role_assignments"], old["applications"]

    loaded = SimTenant.from_json(old)

    assert loaded.expected_privileged_sp_assignments() == (
        tenant.expected_privileged_sp_assignments()
    )
    assert not loaded.applications and not len(loaded.app_role_assignments)


# ----- app registrations ---------------------------------------------------------------------


def home_application(tenant: SimTenant, predicate):
    return next(a for a in tenant.applications.values() if predicate(a))


def test_an_application_is_read_by_app_id_by_id_and_through_get_by_ids(graph, shared_sim):
    tenant = shared_sim.tenant
    app = home_application(tenant, lambda a: a.password_credentials and a.owner_ids)
    principal = tenant.service_principal_by_app_id(app.app_id)

    by_app_id = graph.get(f"/v1.0/applications(appId='{app.app_id}')")
    by_id = graph.get(f"/v1.0/applications/{app.id}", params={"$select": "id,appId"})
    by_ids = graph.post(
        "/v1.0/directoryObjects/getByIds",
        {"ids": [app.id, principal.id], "types": ["application"]},
    )
    mixed = graph.post(
        "/v1.0/directoryObjects/getByIds",
        {"ids": [app.id, principal.id], "types": ["application", "servicePrincipal"]},
    )

    assert by_app_id.status_code == 200, by_app_id.text
    body = by_app_id.json()
    assert body["id"] == app.id != principal.id
    assert {p["keyId"] for p in body["passwordCredentials"]} == {
        p["keyId"] for p in app.password_credentials
    }
    assert all(p["secretText"] is None for p in body["passwordCredentials"])
    assert set(by_id.json()) == {"@odata.context", "id", "appId"}
    assert [o["id"] for o in by_ids.json()["value"]] == [app.id]
    assert by_ids.json()["value"][0]["@odata.type"] == "#microsoft.graph.application"
    assert {o["@odata.type"] for o in mixed.json()["value"]} == {
        "#microsoft.graph.application",
        "#microsoft.graph.servicePrincipal",
    }


def test_an_app_without_a_registration_here_answers_not_found(graph, shared_sim):
    tenant = shared_sim.tenant
    foreign = next(
        sp
        for sp in tenant.service_principals.values()
        if sp.sp_type == "Application" and sp.app_owner_organization_id != tenant.tenant_id
    )

    answer = graph.get(f"/v1.0/applications(appId='{foreign.app_id}')")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "Request_ResourceNotFound"


def test_application_owners_are_users_and_service_principals(graph, shared_sim):
    tenant = shared_sim.tenant
    types = set()
    for app in tenant.applications.values():
        if not app.owner_ids:
            continue
        owners = graph.items(f"/v1.0/applications/{app.id}/owners")
        assert {o["id"] for o in owners} == set(app.owner_ids)
        types |= {o["@odata.type"] for o in owners}

    assert types == {"#microsoft.graph.user", "#microsoft.graph.servicePrincipal"}


def test_federated_credentials_page_and_show_the_pattern_on_beta_only(shared_sim):
    tenant = shared_sim.tenant
    app = home_application(
        tenant, lambda a: any(f.get("claimsMatchingExpression") for f in a.federated_credentials)
    )
    graph = Graph(shared_sim)
    path = f"applications/{app.id}/federatedIdentityCredentials"

    v1 = graph.items(f"/v1.0/{path}")
    beta = graph.items(f"/beta/{path}")

    assert {f["id"] for f in v1} == {f["id"] for f in app.federated_credentials}
    assert all("claimsMatchingExpression" not in f for f in v1)
    flexible = [f for f in beta if f["claimsMatchingExpression"]]
    assert flexible and all(f["subject"] is None for f in flexible)
    assert flexible[0]["claimsMatchingExpression"]["languageVersion"] == 1
    assert all(f["audiences"] == ["api://AzureADTokenExchange"] for f in beta)


def test_a_long_federated_list_is_paged(fresh_graph):
    tenant = fresh_graph.sim.tenant
    app = next(iter(tenant.applications.values()))
    with tenant.lock:
        app.federated_credentials = [
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "name": f"env-{i}",
                "issuer": GITHUB_ISSUER,
                "subject": f"repo:contoso/app:environment:env-{i}",
                "audiences": ["api://AzureADTokenExchange"],
                "description": None,
                "claimsMatchingExpression": None,
            }
            for i in range(12)
        ]
        tenant.touch()

    pages = list(fresh_graph.pages(f"/v1.0/applications/{app.id}/federatedIdentityCredentials"))

    assert [len(p["value"]) for p in pages] == [5, 5, 2]


def test_reading_applications_needs_an_application_read_permission(fresh_graph):
    sim = fresh_graph.sim
    app = next(iter(sim.tenant.applications.values()))
    with sim.tenant.lock:
        sim.tenant.app.roles[:] = ["RoleManagement.Read.Directory"]

    answer = Graph(sim).get(f"/v1.0/applications/{app.id}")

    assert answer.status_code == 403


# ----- generator -----------------------------------------------------------------------------


def test_the_generator_is_deterministic_and_exact_in_permission_grants():
    first = generate_tenant(privileged_assignments=30, seed=6, now=NOW)
    again = generate_tenant(privileged_assignments=30, seed=6, now=NOW)
    more = generate_tenant(privileged_assignments=30, seed=6, now=NOW, app_permission_grants=75)
    none = generate_tenant(privileged_assignments=30, seed=6, now=NOW, app_permission_grants=0)

    assert first.to_json() == again.to_json()
    assert len(first.expected_app_permission_grants()) == 30
    assert len(more.expected_app_permission_grants()) == 75
    assert len(none.expected_app_permission_grants()) == 0
    # The directory roles do not depend on the permissions.
    assert more.expected_privileged_sp_assignments() == first.expected_privileged_sp_assignments()
    with pytest.raises(ValueError):
        generate_tenant(privileged_assignments=3, seed=1, app_permission_grants=-1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_small_tenant_contains_every_permission_case(seed):
    tenant = generate_tenant(privileged_assignments=12, seed=seed, now=NOW)
    expected = tenant.expected_app_permission_grants()
    permission_holders = {p for p, _, _ in expected}
    role_holders = tenant.principal_ids_with_privileged_roles()
    values = {
        r["id"]: r["value"]
        for app_id in catalogue.MONITORED_RESOURCE_APP_IDS
        for r in tenant.service_principal_by_app_id(app_id).app_roles
    }
    held_values = {values[role_id] for _, _, role_id in expected}
    apps = {a.app_id: a for a in tenant.applications.values()}
    holder_apps = [
        apps[sp.app_id]
        for sp in (tenant.service_principals[p] for p in permission_holders | role_holders)
        if sp.app_id in apps
    ]
    all_grants = list(tenant.app_role_assignments)
    monitored = {resource_id(tenant, a) for a in catalogue.MONITORED_RESOURCE_APP_IDS}

    def long_secret(p) -> bool:
        if not p.get("endDateTime"):
            return True
        return p["endDateTime"][:4] > str(int(p["startDateTime"][:4]) + 1)

    cases = {
        "permissions only": bool(permission_holders - role_holders),
        "both": bool(permission_holders & role_holders),
        "tier 0 permission": "RoleManagement.ReadWrite.Directory" in held_values,
        "exchange": "full_access_as_app" in held_values or "Exchange.ManageAsApp" in held_values,
        "sharepoint": any(
            r == resource_id(tenant, catalogue.SHAREPOINT_APP_ID) for _, r, _ in expected
        ),
        "user owner of a registration": any(
            o in tenant.users for a in holder_apps for o in a.owner_ids
        ),
        "service principal owner of a registration": any(
            o in tenant.service_principals for a in holder_apps for o in a.owner_ids
        ),
        "secret valid over a year": any(
            long_secret(p) for a in holder_apps for p in a.password_credentials
        ),
        "credential without expiry": any(
            c.get("endDateTime") is None
            for a in holder_apps
            for c in a.key_credentials + a.password_credentials
        ),
        "github actions": any(
            f["issuer"] == GITHUB_ISSUER
            and (f["subject"] or "").startswith("repo:")
            and f["subject"].endswith(":ref:refs/heads/main")
            for a in holder_apps
            for f in a.federated_credentials
        ),
        "flexible federated": any(
            f.get("claimsMatchingExpression") for a in holder_apps for f in a.federated_credentials
        ),
        "secret beside federated": any(
            a.password_credentials and a.federated_credentials for a in holder_apps
        ),
        "another organisation's app": any(
            tenant.service_principals[p].app_owner_organization_id not in (None, tenant.tenant_id)
            for p in permission_holders
        ),
        "managed identity holder": any(
            tenant.service_principals[p].sp_type == "ManagedIdentity" for p in permission_holders
        ),
        "hostile name": any(
            tenant.service_principals[p].display_name in HOSTILE_NAMES
            for p in permission_holders | role_holders
        ),
        "user holder on graph": any(g.principal_type == "User" for g in all_grants),
        "group holder on graph": any(g.principal_type == "Group" for g in all_grants),
        "unmonitored api": any(g.resource_id not in monitored for g in all_grants),
        "default access on graph": any(
            g.app_role_id == catalogue.DEFAULT_ACCESS_ROLE_ID and g.resource_id in monitored
            for g in all_grants
        ),
    }
    assert [name for name, present in cases.items() if not present] == []


def test_every_home_application_principal_has_one_registration_and_no_other_has():
    tenant = generate_tenant(privileged_assignments=40, seed=4, now=NOW)
    home = {
        sp.app_id
        for sp in tenant.service_principals.values()
        if sp.sp_type == "Application" and sp.app_owner_organization_id == tenant.tenant_id
    }
    registered = Counter(a.app_id for a in tenant.applications.values())

    assert set(registered) == home
    assert set(registered.values()) == {1}
    assert not set(tenant.applications) & set(tenant.service_principals)


def test_grant_count_scales_for_the_benchmark_sizes():
    tenant = generate_tenant(
        privileged_assignments=200, seed=2, now=NOW, app_permission_grants=2000
    )

    assert len(tenant.expected_app_permission_grants()) == 2000
    assert len(tenant.expected_privileged_sp_assignments()) == 200


def test_deleting_a_principal_takes_its_grants_with_it(fresh_graph):
    tenant = fresh_graph.sim.tenant
    holder = next(iter(tenant.expected_app_permission_grants()))[0]

    tenant.delete_service_principal(holder)

    assert not tenant.app_role_assignments.by_principal(holder)
    assert holder not in {p for p, _, _ in tenant.expected_app_permission_grants()}


def test_another_process_grants_revokes_and_reads_the_expected_set_over_http(fresh_graph):
    sim = fresh_graph.sim
    holder = next(iter(sim.tenant.expected_app_permission_grants()))[0]
    control = f"{sim.graph_url}/_sim"

    granted = requests.post(
        f"{control}/tenant",
        json={
            "op": "add_app_role_assignment",
            "args": {
                "principal_id": holder,
                "resource_app_id": catalogue.SHAREPOINT_APP_ID,
                "permission_value": "Sites.FullControl.All",
            },
        },
        verify=str(sim.ca_path),
        timeout=10,
    )
    expected = requests.get(
        f"{control}/expected-app-permissions", verify=str(sim.ca_path), timeout=10
    ).json()
    revoked = requests.post(
        f"{control}/tenant",
        json={
            "op": "remove_app_role_assignment",
            "args": {"assignment_id": granted.json()["result"]},
        },
        verify=str(sim.ca_path),
        timeout=10,
    )

    assert granted.status_code == 200, granted.text
    sharepoint = resource_id(sim.tenant, catalogue.SHAREPOINT_APP_ID)
    assert [holder, sharepoint, "678536fe-1083-478a-9c59-b99265e6b0d3"] in expected
    assert revoked.json() == {"result": True}
    assert (holder, sharepoint, "678536fe-1083-478a-9c59-b99265e6b0d3") not in (
        sim.tenant.expected_app_permission_grants()
    )


def test_the_demo_tenant_shows_every_way_to_be_privileged():
    tenant = generate_tenant(privileged_assignments=60, seed=1)
    permission_holders = {p for p, _, _ in tenant.expected_app_permission_grants()}
    role_holders = tenant.principal_ids_with_privileged_roles()
    apps = {a.app_id: a for a in tenant.applications.values()}
    owned = [
        p
        for p in permission_holders | role_holders
        if (app := apps.get(tenant.service_principals[p].app_id)) and app.owner_ids
    ]

    assert len(tenant.expected_app_permission_grants()) == 60
    assert permission_holders - role_holders
    assert permission_holders & role_holders
    assert owned
