"""Every privilege on the mirror's pages: application permissions beside directory roles, each
with its tier and reason, and who can act as a principal (owners and credentials of both the
principal and its app registration, federated credentials, findings)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from identities.models import ServicePrincipal
from tests.factories import (
    HOSTILE,
    make_application,
    make_assignment,
    make_grant,
    make_permission,
    make_principal,
)

INVENTORY = reverse("identities:inventory")
GA_REASON = "Holds every permission in the directory."
RMRW_REASON = "Can assign itself any directory role, Global Administrator included."


def principal_page(client, principal):
    return client.get(reverse("identities:principal", args=[principal.pk]))


def rows_of(response) -> set[tuple[str, str]]:
    return {
        (row.record.principal.display_name, row.record.role.display_name)
        for row in response.context["table"].page.object_list
    }


def iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


@pytest.fixture
def privileges(tenant, global_admin_role, app_admin_role):
    """Directory roles and application permissions of every tier, on three principals."""
    global_admin_role.tier, global_admin_role.tier_reason = 0, GA_REASON
    global_admin_role.save()
    app_admin_role.tier, app_admin_role.tier_reason = 1, "Can manage every app registration."
    app_admin_role.save()
    rmrw = make_permission(
        tenant, "RoleManagement.ReadWrite.Directory", tier=0, tier_reason=RMRW_REASON
    )
    mail = make_permission(
        tenant,
        "full_access_as_app",
        resource_name="Office 365 Exchange Online",
        resource_app_id="00000002-0000-0ff1-ce00-000000000000",
        tier=1,
        tier_reason="Reads and sends every mailbox's mail.",
    )
    sites = make_permission(
        tenant,
        "Sites.Selected",
        resource_name="Office 365 SharePoint Online",
        resource_app_id="00000003-0000-0ff1-ce00-000000000000",
        tier=2,
        tier_reason="Only the sites an admin picks.",
    )
    odd = make_permission(tenant, "Custom.Unknown.All")
    roles_only = make_principal(tenant, "Roles only")
    both = make_principal(tenant, "Both kinds")
    permissions_only = make_principal(tenant, "Permissions only")
    make_assignment(roles_only, global_admin_role)
    make_assignment(both, app_admin_role)
    make_grant(both, rmrw)
    make_grant(permissions_only, mail)
    make_grant(permissions_only, sites)
    make_grant(permissions_only, odd)
    # Removed grants never show on the inventory.
    make_grant(roles_only, rmrw, removed_at=timezone.now())
    return {"rmrw": rmrw, "mail": mail, "sites": sites, "odd": odd}


ALL_ROWS = {
    ("Roles only", "Global Administrator"),
    ("Both kinds", "Application Administrator"),
    ("Both kinds", "RoleManagement.ReadWrite.Directory"),
    ("Permissions only", "full_access_as_app"),
    ("Permissions only", "Sites.Selected"),
    ("Permissions only", "Custom.Unknown.All"),
}


# --- inventory ------------------------------------------------------------------------------


def test_the_inventory_lists_roles_and_permissions_with_their_tiers(as_auditor, privileges):
    response = as_auditor.get(INVENTORY)

    assert rows_of(response) == ALL_ROWS
    content = response.content.decode()
    # The permission's value, its API beneath it, the reason on hover.
    assert 'RoleManagement.ReadWrite.Directory<span class="sub">Microsoft Graph</span>' in content
    assert '<span class="sub">Office 365 Exchange Online</span>' in content
    assert f'<span class="badge badge-danger" title="{RMRW_REASON}">Tier 0</span>' in content
    assert f'title="{GA_REASON}">Tier 0</span>' in content
    assert ">Tier 1</span>" in content and ">Tier 2</span>" in content
    assert '<span class="badge badge-unclassified">Unclassified</span>' in content
    assert '<span class="badge badge-app_permission">app permission</span>' in content
    assert "App role" in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "tier=0",
            {
                ("Roles only", "Global Administrator"),
                ("Both kinds", "RoleManagement.ReadWrite.Directory"),
            },
        ),
        (
            "tier=1",
            {
                ("Both kinds", "Application Administrator"),
                ("Permissions only", "full_access_as_app"),
            },
        ),
        ("tier=2", {("Permissions only", "Sites.Selected")}),
        ("tier=none", {("Permissions only", "Custom.Unknown.All")}),
        (
            "privilege_type=role",
            {("Roles only", "Global Administrator"), ("Both kinds", "Application Administrator")},
        ),
        (
            "privilege_type=app_permission",
            {
                ("Both kinds", "RoleManagement.ReadWrite.Directory"),
                ("Permissions only", "full_access_as_app"),
                ("Permissions only", "Sites.Selected"),
                ("Permissions only", "Custom.Unknown.All"),
            },
        ),
        (
            "privilege_type=app_permission&tier=0",
            {("Both kinds", "RoleManagement.ReadWrite.Directory")},
        ),
        ("privilege_type=role&tier=2", set()),
        ("kind=app_permission&tier=1", {("Permissions only", "full_access_as_app")}),
        (
            "q=both",
            {
                ("Both kinds", "Application Administrator"),
                ("Both kinds", "RoleManagement.ReadWrite.Directory"),
            },
        ),
        ("", ALL_ROWS),
    ],
)
def test_tier_and_type_filters_return_exactly_their_rows(as_auditor, privileges, query, expected):
    response = as_auditor.get(INVENTORY + "?" + query)
    assert response.status_code == 200
    assert rows_of(response) == expected


@pytest.mark.parametrize("query", ["tier=3", "tier=-1", "tier=zero", "privilege_type=owner"])
def test_an_unknown_tier_or_type_shows_nothing_and_says_so(as_auditor, privileges, query):
    response = as_auditor.get(INVENTORY + "?" + query)
    assert response.status_code == 200
    assert rows_of(response) == set()
    assert "Some filters were not understood" in response.content.decode()


def test_the_privilege_filter_offers_permissions_with_their_api(as_auditor, privileges):
    content = as_auditor.get(INVENTORY).content.decode()
    assert "full_access_as_app (Office 365 Exchange Online)</option>" in content
    assert "RoleManagement.ReadWrite.Directory (Microsoft Graph)</option>" in content
    response = as_auditor.get(INVENTORY + f"?role={privileges['mail'].pk}")
    assert rows_of(response) == {("Permissions only", "full_access_as_app")}


def test_sorting_by_tier_puts_unclassified_last_both_ways(as_auditor, privileges):
    for sort, first in (("tier", 0), ("-tier", 2)):
        response = as_auditor.get(INVENTORY + "?sort=" + sort)
        tiers = [row.record.role.tier for row in response.context["table"].page.object_list]
        assert tiers[0] == first, sort
        assert tiers[-1] is None, sort
        assert len(tiers) == len(ALL_ROWS)


def test_the_export_link_keeps_tier_and_type(as_auditor, privileges):
    response = as_auditor.get(INVENTORY + "?tier=0&privilege_type=app_permission&page=1")
    assert response.context["export_url"] == (
        reverse("identities:inventory_export") + "?tier=0&privilege_type=app_permission"
    )


# --- principal page -------------------------------------------------------------------------


@pytest.fixture
def exposed(tenant, privileges, global_admin_role):
    """A principal privileged both ways, owned twice over, with credentials on both objects,
    a federated credential with a pattern and one with a fixed subject."""
    principal = make_principal(
        tenant,
        "Deploy robot",
        owners=[
            {
                "id": "u-ann",
                "type": "#microsoft.graph.user",
                "displayName": "Ann Owner",
                "userPrincipalName": "ann@contoso.test",
                "mail": "ann.mail@contoso.test",
            }
        ],
        credentials=[
            {
                "kind": "certificate",
                "keyId": "sp-cert",
                "displayName": "sp certificate",
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "start": iso(timedelta(days=-10)),
                "end": None,
            }
        ],
    )
    make_assignment(principal, global_admin_role)
    make_grant(principal, privileges["rmrw"])
    make_grant(principal, privileges["mail"])
    make_application(
        tenant,
        principal,
        display_name="Deploy robot (registration)",
        owners=[
            {
                "id": "u-ben",
                "type": "#microsoft.graph.user",
                "displayName": "Ben Builder",
                "userPrincipalName": "ben@contoso.test",
                "mail": None,
            },
            {
                "id": "sp-ci",
                "type": "#microsoft.graph.servicePrincipal",
                "displayName": "CI pipeline app",
            },
        ],
        credentials=[
            {
                "kind": "secret",
                "keyId": "app-secret",
                "displayName": "two-year secret",
                "hint": "abc",
                "start": iso(timedelta(days=-5)),
                "end": iso(timedelta(days=725)),
            },
            {
                "kind": "secret",
                "keyId": "old-secret",
                "displayName": "expired secret",
                "start": iso(timedelta(days=-400)),
                "end": iso(timedelta(days=-3)),
            },
        ],
        federated_credentials=[
            {
                "id": "fic-1",
                "name": "github-main",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:contoso/deploy:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"],
                "description": "Deploys from main",
            },
            {
                "id": "fic-2",
                "name": "github-any-branch",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": None,
                "audiences": ["api://AzureADTokenExchange"],
                "claimsMatchingExpression": {
                    "value": "claims['sub'] matches 'repo:contoso/*'",
                    "languageVersion": 1,
                },
            },
        ],
    )
    return principal


def test_the_principal_page_groups_roles_and_permissions_with_tier_and_reason(as_auditor, exposed):
    response = principal_page(as_auditor, exposed)

    assert [a.role.display_name for a in response.context["roles"]] == ["Global Administrator"]
    assert [a.role.display_name for a in response.context["permissions"]] == [
        "RoleManagement.ReadWrite.Directory",  # Microsoft Graph sorts before Office 365 …
        "full_access_as_app",
    ]
    content = response.content.decode()
    assert "Directory roles" in content and "Application permissions" in content
    # The reason is printed, not only on hover.
    assert f'<span class="tier-reason">{RMRW_REASON}</span>' in content
    assert f'<span class="tier-reason">{GA_REASON}</span>' in content
    assert "Office 365 Exchange Online" in content


def test_the_principal_page_shows_who_can_act_as_it(as_auditor, exposed):
    response = principal_page(as_auditor, exposed)
    content = response.content.decode()

    # Owners of both objects, the UPN beneath the name, an app owner flagged as such.
    assert [(o.display_name, o.owns) for o in response.context["owners"]] == [
        ("Ann Owner", "service principal"),
        ("Ben Builder", "app registration"),
        ("CI pipeline app", "app registration"),
    ]
    assert 'Ben Builder<span class="sub">ben@contoso.test</span>' in content
    assert ">service principal</span>" in content
    # Credentials of both objects, which holds each, their expiry.
    held = {(c.row.key_id, c.held_by) for c in response.context["credentials"]}
    assert held == {
        ("sp-cert", "service principal"),
        ("app-secret", "app registration"),
        ("old-secret", "app registration"),
    }
    assert "sp certificate" in content and "two-year secret" in content
    assert '<span class="badge badge-danger">expired</span>' in content
    assert '<span class="badge badge-success">valid</span>' in content
    assert "end unknown" in content
    # Findings, with the credential and the object they are about.
    assert "Certificate without expiry" in content
    assert "Secret valid 730 days" not in content
    assert "Secret valid 2 years (until " in content
    assert "the secret may not be needed" in content
    assert "two-year secret, on the app registration" in content
    # The expired secret raises nothing.
    codes = [(f.finding.key_id, f.finding.code) for f in response.context["acting"].findings]
    assert codes == [
        ("sp-cert", "no_expiry"),
        ("app-secret", "long_secret"),
        ("app-secret", "secret_beside_federated"),
    ]
    # Federated credentials: issuer, subject, audiences; a pattern flagged.
    assert "https://token.actions.githubusercontent.com" in content
    assert "repo:contoso/deploy:ref:refs/heads/main" in content
    assert "api://AzureADTokenExchange" in content
    assert "claims[&#x27;sub&#x27;] matches &#x27;repo:contoso/*&#x27;" in content
    assert content.count("broader than it looks") == 1
    assert "Deploy robot (registration)" in content


@pytest.mark.parametrize(
    ("state", "text"),
    [
        (
            "none",
            "No app registration in this tenant (managed identity / another organisation's app)",
        ),
        ("unreadable", "The app registration could not be read"),
        ("", "has not read this principal's app registration yet"),
    ],
)
def test_the_principal_page_says_why_there_is_no_app_registration(
    as_auditor, tenant, global_admin_role, state, text
):
    principal = make_principal(
        tenant,
        "Managed one",
        sp_type=ServicePrincipal.Type.MANAGED_IDENTITY,
        application_state=state,
    )
    make_assignment(principal, global_admin_role)

    content = principal_page(as_auditor, principal).content.decode()

    assert text in content
    assert "Olivia Owner" in content  # the principal's own owners still show


def test_a_principal_without_permissions_says_so(as_auditor, tenant, global_admin_role):
    principal = make_principal(tenant, "Roles only")
    make_assignment(principal, global_admin_role)
    content = principal_page(as_auditor, principal).content.decode()
    assert "holds no application permission" in content


def test_removed_permissions_show_in_the_history_with_their_api(as_auditor, tenant, privileges):
    principal = make_principal(tenant, "Was privileged")
    make_grant(principal, privileges["mail"], removed_at=timezone.now() - timedelta(days=1))
    content = principal_page(as_auditor, principal).content.decode()
    assert "History" in content
    assert 'full_access_as_app<span class="sub">Office 365 Exchange Online</span>' in content


def test_odd_stored_values_do_not_break_the_principal_page(as_auditor, tenant, privileges):
    principal = make_principal(tenant, "Odd", owners=["not an owner"])
    make_grant(principal, privileges["odd"])
    make_application(
        tenant,
        principal,
        owners={"not": "a list"},
        credentials=[{"kind": "secret", "end": "garbage"}, 7],
        federated_credentials=[
            "nope",
            {"name": 5, "audiences": "api://not-a-list", "claimsMatchingExpression": 3},
        ],
    )
    response = principal_page(as_auditor, principal)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Secret without expiry" in content
    assert "Not in the classification" in content


# --- hostile values -------------------------------------------------------------------------


def test_hostile_values_are_escaped_everywhere(as_auditor, tenant):
    permission = make_permission(
        tenant, HOSTILE, resource_name=HOSTILE, tier=0, tier_reason=HOSTILE, description=HOSTILE
    )
    principal = make_principal(
        tenant,
        HOSTILE,
        owners=[
            {
                "id": "x",
                "type": "#microsoft.graph.user",
                "displayName": HOSTILE,
                "userPrincipalName": HOSTILE,
                "mail": HOSTILE,
            }
        ],
        credentials=[{"kind": "secret", "keyId": HOSTILE, "displayName": HOSTILE, "end": None}],
    )
    make_grant(principal, permission)
    make_application(
        tenant,
        principal,
        display_name=HOSTILE,
        owners=[{"id": "y", "type": HOSTILE, "displayName": HOSTILE}],
        credentials=[{"kind": "secret", "keyId": "k", "displayName": HOSTILE, "end": HOSTILE}],
        federated_credentials=[
            {
                "id": HOSTILE,
                "name": HOSTILE,
                "issuer": HOSTILE,
                "subject": HOSTILE,
                "audiences": [HOSTILE],
                "description": HOSTILE,
                "claimsMatchingExpression": {"value": HOSTILE},
            }
        ],
    )

    for url in (
        INVENTORY,
        INVENTORY + "?tier=0&privilege_type=app_permission",
        reverse("identities:principal", args=[principal.pk]),
    ):
        content = as_auditor.get(url).content.decode()
        assert "<script>" not in content, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content, url


# --- cost -----------------------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_permission_rows_cost_no_query_each(as_auditor, tenant, privileges):
    url = INVENTORY + "?per_page=200&privilege_type=app_permission&tier=0"
    few = count_queries(as_auditor, url)
    for n in range(20):
        make_grant(make_principal(tenant, f"Grantee {n:02d}"), privileges["rmrw"])
    many = count_queries(as_auditor, url)
    assert as_auditor.get(url).context["table"].paginator.count == 21
    assert few == many


def test_the_principal_page_costs_the_same_with_more_privileges(as_auditor, exposed, privileges):
    url = reverse("identities:principal", args=[exposed.pk])
    few = count_queries(as_auditor, url)
    make_grant(exposed, privileges["sites"])
    make_grant(exposed, privileges["odd"])
    assert count_queries(as_auditor, url) == few


def test_owners_of_the_app_registration_alone_are_owners(as_auditor, tenant, global_admin_role):
    principal = make_principal(tenant, "Registered", owners=[], owner_count=0)
    make_assignment(principal, global_admin_role)
    no_one = principal_page(as_auditor, principal).content.decode()
    assert '<span class="badge badge-warning">no owner</span>' in no_one
    make_application(
        tenant,
        principal,
        owners=[{"id": "u-1", "type": "#microsoft.graph.user", "displayName": "Reg Owner"}],
    )

    content = principal_page(as_auditor, principal).content.decode()

    assert '<span class="badge badge-warning">no owner</span>' not in content
    assert "Reg Owner" in content


def test_no_owner_means_nobody_owns_the_principal_or_its_app_registration(
    as_auditor, tenant, global_admin_role
):
    """An owner of the app registration can act as the principal: not "no owner"."""
    nobody = make_principal(tenant, "Nobody's app", owners=[], owner_count=0)
    through_app = make_principal(tenant, "Owned through its registration", owners=[], owner_count=0)
    make_application(
        tenant, through_app, owners=[{"id": "u1", "type": "user", "displayName": "Una Owner"}]
    )
    for principal in (nobody, through_app):
        make_assignment(principal, global_admin_role)

    response = as_auditor.get(INVENTORY, {"ownerless": "on"})

    assert {name for name, _ in rows_of(response)} == {"Nobody's app"}
    overview = as_auditor.get(reverse("overview"))
    assert overview.context["overview"].ownerless == 1
    listed = as_auditor.get(INVENTORY, {"q": "Owned through"}).context["table"].page.object_list
    assert [row.get_cell("owners") for row in listed] == ["1"]
    export = as_auditor.get(reverse("identities:inventory_export"), {"q": "Owned through"})
    assert "Una Owner" in b"".join(export.streaming_content).decode()
