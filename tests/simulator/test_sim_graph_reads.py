"""Graph reads: shapes, paging with opaque skip tokens, $filter / $expand / $select, errors."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from entrasim.roles import GLOBAL_ADMINISTRATOR

ASSIGNMENTS = "/v1.0/roleManagement/directory/roleAssignments"
SCHEDULES = "/v1.0/roleManagement/directory/roleAssignmentSchedules"
ELIGIBILITY = "/v1.0/roleManagement/directory/roleEligibilitySchedules"


def error_code(answer) -> str:
    return answer.json()["error"]["code"]


@pytest.mark.parametrize(
    ("path", "collection"),
    [
        (ASSIGNMENTS, "role_assignments"),
        (SCHEDULES, "assignment_schedules"),
        (ELIGIBILITY, "eligibility_schedules"),
        ("/v1.0/servicePrincipals", "service_principals"),
    ],
)
def test_paging_follows_next_links_through_every_page(graph, path, collection):
    pages = list(graph.pages(path))

    assert len(pages) > 1
    assert all(len(page["value"]) <= graph.sim.page_size for page in pages)
    assert all("@odata.context" in page for page in pages)
    ids = [item["id"] for page in pages for item in page["value"]]
    assert len(ids) == len(set(ids)) == len(getattr(graph.sim.tenant, collection))
    assert "@odata.nextLink" not in pages[-1]


def test_next_links_keep_every_parameter_and_an_opaque_token(graph):
    first = graph.get(ASSIGNMENTS, params={"$expand": "principal", "$top": "4"}).json()
    link = first["@odata.nextLink"]
    query = parse_qs(urlsplit(link).query)

    assert query["$expand"] == ["principal"]
    assert query["$top"] == ["4"]
    token = query["$skiptoken"][0]
    assert token not in ("4", "1") and not token.isdigit()
    second = graph.get(link).json()
    assert len(second["value"]) == 4
    assert all("principal" in item for item in second["value"])


def test_garbled_or_foreign_skip_tokens_are_refused(graph):
    link = graph.get(ASSIGNMENTS).json()["@odata.nextLink"]
    token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    for bad in ("garbage", "7", tampered):
        answer = graph.get(ASSIGNMENTS, params={"$skiptoken": bad})
        assert answer.status_code == 400, bad
        assert error_code(answer) == "Request_BadRequest"
        assert answer.headers["request-id"]

    elsewhere = graph.get(SCHEDULES, params={"$skiptoken": token})
    assert elsewhere.status_code == 400


def test_top_is_honoured_and_capped_at_999(graph):
    assert len(graph.get("/v1.0/servicePrincipals", params={"$top": "3"}).json()["value"]) == 3
    assert graph.get("/v1.0/servicePrincipals", params={"$top": "999"}).status_code == 200
    too_many = graph.get("/v1.0/servicePrincipals", params={"$top": "1000"})
    assert too_many.status_code == 400


def test_filters_on_principal_role_and_scope(graph):
    tenant = graph.sim.tenant
    sample = next(ra for ra in tenant.role_assignments if ra.directory_scope_id != "/")
    other = next(ra for ra in tenant.role_assignments if ra.principal_id != sample.principal_id)

    by_principal = graph.items(
        ASSIGNMENTS, params={"$filter": f"principalId eq '{sample.principal_id}'"}
    )
    assert by_principal
    assert {a["principalId"] for a in by_principal} == {sample.principal_id}
    assert {a["id"] for a in by_principal} == {
        ra.id for ra in tenant.role_assignments.by_principal(sample.principal_id)
    }

    both = graph.items(
        ASSIGNMENTS,
        params={"$filter": f"principalId in ('{sample.principal_id}', '{other.principal_id}')"},
    )
    assert {a["principalId"] for a in both} == {sample.principal_id, other.principal_id}

    combined = graph.items(
        ASSIGNMENTS,
        params={
            "$filter": (
                f"roleDefinitionId eq '{sample.role_definition_id}' and "
                f"directoryScopeId eq '{sample.directory_scope_id}'"
            )
        },
    )
    assert sample.id in {a["id"] for a in combined}
    assert all(a["directoryScopeId"] == sample.directory_scope_id for a in combined)

    holders = graph.items(
        ELIGIBILITY, params={"$filter": f"roleDefinitionId eq '{GLOBAL_ADMINISTRATOR}'"}
    )
    assert all(s["roleDefinitionId"] == GLOBAL_ADMINISTRATOR for s in holders)


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("principalId ne 'x'", "Request_UnsupportedQuery"),
        ("principalId eq 'a' or principalId eq 'b'", "Request_UnsupportedQuery"),
        ("startswith(principalId, 'a')", "Request_UnsupportedQuery"),
        ("colour eq 'blue'", "BadRequest"),
        ("principalId eq", "BadRequest"),
    ],
)
def test_unsupported_filters_answer_400(graph, expression, code):
    answer = graph.get(ASSIGNMENTS, params={"$filter": expression})

    assert answer.status_code == 400
    assert error_code(answer) == code
    assert set(answer.json()["error"]["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_expand_principal_carries_the_odata_type_of_each_kind(graph):
    items = graph.items(ASSIGNMENTS, params={"$expand": "principal", "$top": "999"})
    by_type: dict[str, dict] = {}
    for item in items:
        by_type.setdefault(item["principal"]["@odata.type"], item["principal"])

    assert set(by_type) == {
        "#microsoft.graph.servicePrincipal",
        "#microsoft.graph.user",
        "#microsoft.graph.group",
    }
    sp = by_type["#microsoft.graph.servicePrincipal"]
    assert {"appId", "servicePrincipalType", "accountEnabled", "keyCredentials"} <= set(sp)
    credentials = [
        (c, "key")
        for i in items
        if "keyCredentials" in i["principal"]
        for c in i["principal"]["keyCredentials"]
    ] + [
        (c, "secretText")
        for i in items
        if "passwordCredentials" in i["principal"]
        for c in i["principal"]["passwordCredentials"]
    ]
    assert credentials
    assert all(c[field] is None for c, field in credentials)
    assert "userPrincipalName" in by_type["#microsoft.graph.user"]


def test_active_pim_schedules_are_also_role_assignments(graph):
    tenant = graph.sim.tenant
    listed = {
        (a["principalId"], a["roleDefinitionId"], a["directoryScopeId"])
        for a in graph.items(ASSIGNMENTS, params={"$top": "999"})
    }
    direct_schedules = [s for s in tenant.assignment_schedules if s.member_type == "Direct"]

    assert direct_schedules
    for s in direct_schedules:
        assert (s.principal_id, s.role_definition_id, s.directory_scope_id) in listed


def test_schedule_shapes(graph):
    active = graph.items(SCHEDULES, params={"$top": "999"})
    eligible = graph.items(ELIGIBILITY, params={"$top": "999"})

    assert {s["assignmentType"] for s in active} == {"Assigned", "Activated"}
    assert {s["memberType"] for s in active} == {"Direct", "Group"}
    assert all("assignmentType" not in s for s in eligible)
    expirations = {s["scheduleInfo"]["expiration"]["type"] for s in active + eligible}
    assert expirations == {"noExpiration", "afterDateTime"}
    for s in active + eligible:
        assert s["status"] == "Provisioned"
        assert {"id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"} <= set(s)
        assert "startDateTime" in s["scheduleInfo"]

    filtered = graph.items(
        ELIGIBILITY, params={"$filter": "memberType eq 'Group'", "$expand": "principal"}
    )
    assert filtered and all(s["memberType"] == "Group" for s in filtered)


def test_role_definitions_flag_privilege_only_in_beta(graph):
    v1 = graph.items("/v1.0/roleManagement/directory/roleDefinitions")
    beta = graph.items("/beta/roleManagement/directory/roleDefinitions")
    privileged = graph.items(
        "/beta/roleManagement/directory/roleDefinitions",
        params={"$filter": "isPrivileged eq true"},
    )

    assert all("isPrivileged" not in r for r in v1)
    assert all("isPrivileged" in r for r in beta)
    assert privileged and all(r["isPrivileged"] for r in privileged)
    assert {r["id"] for r in privileged} >= {
        GLOBAL_ADMINISTRATOR,
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    }
    assert "88d8e3e3-8f55-4a1e-953a-9b9898b8876b" not in {r["id"] for r in privileged}
    assert all(r["id"] == r["templateId"] for r in v1 if r["isBuiltIn"])
    custom = [r for r in v1 if not r["isBuiltIn"]]
    assert custom and all(r["id"] != r["templateId"] for r in custom)
    refused = graph.get(
        "/v1.0/roleManagement/directory/roleDefinitions",
        params={"$filter": "isPrivileged eq true"},
    )
    assert refused.status_code == 400


def test_service_principals_by_id_filter_and_select(graph):
    sp = next(iter(graph.sim.tenant.service_principals.values()))

    one = graph.get(f"/v1.0/servicePrincipals/{sp.id}")
    assert one.status_code == 200
    assert one.json()["appId"] == sp.app_id
    missing = graph.get(f"/v1.0/servicePrincipals/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert error_code(missing) == "Request_ResourceNotFound"

    by_app = graph.items("/v1.0/servicePrincipals", params={"$filter": f"appId eq '{sp.app_id}'"})
    assert [s["id"] for s in by_app] == [sp.id]

    slim = graph.get("/v1.0/servicePrincipals", params={"$select": "id,displayName"}).json()
    assert all(set(s) == {"id", "displayName"} for s in slim["value"])
    assert graph.get("/v1.0/servicePrincipals", params={"$select": "nope"}).status_code == 400


def test_get_by_ids_returns_what_exists(graph):
    tenant = graph.sim.tenant
    sp_ids = list(tenant.service_principals)[:3]
    user_id = next(iter(tenant.users))
    body = {"ids": [*sp_ids, str(uuid.uuid4()), user_id], "types": ["servicePrincipal"]}

    answer = graph.post("/v1.0/directoryObjects/getByIds", body)

    assert answer.status_code == 200
    found = answer.json()["value"]
    assert sorted(o["id"] for o in found) == sorted(sp_ids)
    assert all(o["@odata.type"] == "#microsoft.graph.servicePrincipal" for o in found)
    too_many = graph.post("/v1.0/directoryObjects/getByIds", {"ids": [str(uuid.uuid4())] * 1001})
    assert too_many.status_code == 400


def test_owners_are_typed_and_paged(graph):
    tenant = graph.sim.tenant
    owned = [sp for sp in tenant.service_principals.values() if sp.owner_ids]
    ownerless = [sp for sp in tenant.service_principals.values() if not sp.owner_ids]
    assert owned and ownerless

    seen_types, mails = set(), []
    for sp in owned:
        owners = graph.items(f"/v1.0/servicePrincipals/{sp.id}/owners", params={"$top": "1"})
        assert [o["id"] for o in owners] == sp.owner_ids
        for owner in owners:
            seen_types.add(owner["@odata.type"])
            if owner["@odata.type"] == "#microsoft.graph.user":
                assert owner["userPrincipalName"]
                mails.append(owner["mail"])
    assert seen_types == {"#microsoft.graph.user", "#microsoft.graph.servicePrincipal"}
    assert None in mails and any(mails)
    assert graph.items(f"/v1.0/servicePrincipals/{ownerless[0].id}/owners") == []
    assert graph.get(f"/v1.0/servicePrincipals/{uuid.uuid4()}/owners").status_code == 404


def test_sign_in_activity_is_beta_only_and_lists_principals_that_signed_in(graph):
    tenant = graph.sim.tenant
    path = "/beta/reports/servicePrincipalSignInActivities"
    activities = graph.items(path)
    signed_in = {sp.app_id for sp in tenant.service_principals.values() if sp.sign_in}

    assert {a["appId"] for a in activities} == signed_in
    assert len(signed_in) < len(tenant.service_principals)  # some never signed in
    for activity in activities:
        assert activity["lastSignInActivity"]["lastSignInDateTime"]
        assert "applicationAuthenticationClientSignInActivity" in activity
    app_id = next(iter(signed_in))
    one = graph.items(path, params={"$filter": f"appId eq '{app_id}'"})
    assert [a["appId"] for a in one] == [app_id]
    assert graph.get("/v1.0/reports/servicePrincipalSignInActivities").status_code == 400


def test_errors_use_the_graph_envelope_and_a_request_id(graph):
    answer = graph.get("/v1.0/noSuchThing")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["innerError"]["request-id"] == answer.headers["request-id"]
    assert answer.headers["Content-Length"] == str(len(answer.content))
