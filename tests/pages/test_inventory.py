"""The inventory: which rows appear, how filters narrow them, and what each row costs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from identities.models import Assignment, ServicePrincipal
from tests.factories import make_assignment, make_principal, make_role

INVENTORY = reverse("identities:inventory")


def names_on_page(response) -> set[str]:
    return {row.record.principal.display_name for row in response.context["table"].page.object_list}


def test_shows_current_privileged_assignments_only(
    as_auditor, tenant, other_tenant, global_admin_role, reader_role
):
    make_assignment(make_principal(tenant, "Current app"), global_admin_role)
    make_assignment(
        make_principal(tenant, "Removed app"), global_admin_role, removed_at=timezone.now()
    )
    make_assignment(make_principal(tenant, "Reader app"), reader_role)
    foreign_role = make_role(other_tenant, "Global Administrator")
    make_assignment(make_principal(other_tenant, "Foreign app"), foreign_role)

    response = as_auditor.get(INVENTORY)

    assert response.status_code == 200
    assert names_on_page(response) == {"Current app"}
    assert b"Removed app" not in response.content
    assert b"Reader app" not in response.content
    assert b"Foreign app" not in response.content


def test_row_links_to_the_principal_and_shows_its_facts(as_auditor, tenant, global_admin_role):
    principal = make_principal(tenant, "Backup agent", app_id="app-backup-1")
    make_assignment(principal, global_admin_role, directory_scope_id="/administrativeUnits/au-7")

    response = as_auditor.get(INVENTORY)

    assert reverse("identities:principal", args=[principal.pk]).encode() in response.content
    assert b"app-backup-1" in response.content
    assert b"Global Administrator" in response.content
    assert b"Administrative unit au-7" in response.content


def test_row_badges(as_auditor, tenant, global_admin_role):
    lonely = make_principal(tenant, "Lonely", owners=[], owner_count=0)
    stale = make_principal(tenant, "Stale", last_sign_in_at=timezone.now() - timedelta(days=200))
    unknown = make_principal(tenant, "Unknown", sign_in_known=False, last_sign_in_at=None)
    off = make_principal(tenant, "Off", account_enabled=False)
    foreign = make_principal(tenant, "Foreign owned", app_owner_organization_id="other-org")
    for principal in (lonely, stale, unknown, off, foreign):
        make_assignment(principal, global_admin_role)

    content = as_auditor.get(INVENTORY).content.decode()

    assert "no owner" in content
    assert "inactive" in content
    assert "unknown" in content
    assert "disabled" in content
    assert "multi-tenant" in content
    assert '<span class="badge badge-active">active</span>' in content


@pytest.fixture
def varied(tenant, global_admin_role, app_admin_role):
    """One principal per interesting trait, each holding one privileged role."""
    now = timezone.now()
    rows = {
        "plain": make_principal(tenant, "Plain app", app_id="aaaa-plain"),
        "managed": make_principal(
            tenant, "Managed identity", sp_type=ServicePrincipal.Type.MANAGED_IDENTITY
        ),
        "ownerless": make_principal(tenant, "Ownerless app", owners=[], owner_count=0),
        "stale": make_principal(tenant, "Stale app", last_sign_in_at=now - timedelta(days=120)),
        "never": make_principal(tenant, "Never signed in", last_sign_in_at=None),
        "unknown": make_principal(
            tenant, "Unknown activity", sign_in_known=False, last_sign_in_at=None
        ),
        "disabled": make_principal(tenant, "Disabled app", account_enabled=False),
    }
    for key, principal in rows.items():
        make_assignment(principal, global_admin_role)
    make_assignment(
        rows["plain"],
        app_admin_role,
        kind=Assignment.Kind.ELIGIBLE,
        granted_via=Assignment.Granted.PIM,
    )
    return rows


def test_kind_badges_tell_active_from_eligible(as_auditor, varied):
    content = as_auditor.get(INVENTORY).content.decode()
    assert '<span class="badge badge-active">active</span>' in content
    assert '<span class="badge badge-eligible">eligible</span>' in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"sp_type": "ManagedIdentity"}, {"Managed identity"}),
        ({"kind": "eligible"}, {"Plain app"}),
        ({"granted_via": "pim"}, {"Plain app"}),
        ({"ownerless": "on"}, {"Ownerless app"}),
        ({"inactive": "on"}, {"Stale app", "Never signed in"}),
        ({"disabled": "on"}, {"Disabled app"}),
        ({"q": "OWNERLESS"}, {"Ownerless app"}),
        ({"q": "aaaa-pl"}, {"Plain app"}),
    ],
)
def test_each_filter_narrows_to_the_expected_rows(as_auditor, varied, query, expected):
    response = as_auditor.get(INVENTORY, query)
    assert names_on_page(response) == expected


def test_search_matches_the_object_id(as_auditor, varied):
    object_id = varied["stale"].object_id
    response = as_auditor.get(INVENTORY, {"q": object_id})
    assert names_on_page(response) == {"Stale app"}


def test_role_filter_narrows_to_that_role(as_auditor, varied, app_admin_role):
    response = as_auditor.get(INVENTORY, {"role": app_admin_role.pk})
    rows = [row.record for row in response.context["table"].page.object_list]
    assert [(a.principal.display_name, a.role_id) for a in rows] == [
        ("Plain app", app_admin_role.pk)
    ]


def test_role_filter_offers_only_privileged_roles_of_the_tenant(
    as_auditor, tenant, other_tenant, global_admin_role, reader_role
):
    make_role(other_tenant, "Fabrikam Role")
    response = as_auditor.get(INVENTORY)
    roles = set(response.context["filter"].form.fields["role"].queryset)
    assert roles == {global_admin_role}


def test_unchecked_boxes_do_not_filter(as_auditor, varied):
    response = as_auditor.get(INVENTORY)
    unfiltered = names_on_page(response)
    response = as_auditor.get(INVENTORY, {"ownerless": "", "inactive": "", "disabled": ""})
    assert names_on_page(response) == unfiltered
    assert len(unfiltered) == len(varied)


def test_an_invalid_filter_shows_nothing_and_says_so(as_auditor, varied):
    response = as_auditor.get(INVENTORY, {"role": "999999"})
    assert names_on_page(response) == set()
    assert b"Some filters were not understood" in response.content


def test_filters_survive_pagination_and_sorting(as_auditor, tenant, global_admin_role):
    for n in range(30):
        make_assignment(
            make_principal(tenant, f"Eligible {n:02d}"),
            global_admin_role,
            kind=Assignment.Kind.ELIGIBLE,
        )
    make_assignment(make_principal(tenant, "Active one"), global_admin_role)

    response = as_auditor.get(INVENTORY, {"kind": "eligible"})
    content = response.content.decode()

    assert response.context["table"].paginator.count == 30
    assert "page=2" in content
    next_links = [
        part for part in content.split('href="') if part.startswith("?") and "page=2" in part
    ]
    assert next_links and all("kind=eligible" in link for link in next_links)
    sort_links = [
        part for part in content.split('href="') if part.startswith("?") and "sort=" in part
    ]
    assert sort_links and all("kind=eligible" in link for link in sort_links)

    page2 = as_auditor.get(INVENTORY, {"kind": "eligible", "page": 2})
    assert len(page2.context["table"].page.object_list) == 5
    assert "Active one" not in names_on_page(page2)


def test_sorting_by_a_column(as_auditor, tenant, global_admin_role):
    for name in ("Bravo", "Alpha", "Charlie"):
        make_assignment(make_principal(tenant, name), global_admin_role)
    ascending = as_auditor.get(INVENTORY, {"sort": "principal"})
    descending = as_auditor.get(INVENTORY, {"sort": "-principal"})
    order = [r.record.principal.display_name for r in ascending.context["table"].page.object_list]
    assert order == ["Alpha", "Bravo", "Charlie"]
    order = [r.record.principal.display_name for r in descending.context["table"].page.object_list]
    assert order == ["Charlie", "Bravo", "Alpha"]


def test_page_size_is_25_by_default_and_capped_at_200(as_auditor, tenant, global_admin_role):
    make_assignment(make_principal(tenant), global_admin_role)
    assert as_auditor.get(INVENTORY).context["table"].paginator.per_page == 25
    response = as_auditor.get(INVENTORY, {"per_page": 100})
    assert response.context["table"].paginator.per_page == 100
    response = as_auditor.get(INVENTORY, {"per_page": 100000})
    assert response.context["table"].paginator.per_page == 200
    response = as_auditor.get(INVENTORY, {"per_page": "lots", "page": "x"})
    assert response.status_code == 200


def test_a_page_past_the_end_shows_the_last_page(as_auditor, tenant, global_admin_role):
    make_assignment(make_principal(tenant), global_admin_role)
    response = as_auditor.get(INVENTORY, {"page": 99})
    assert response.status_code == 200
    assert response.context["table"].page.number == 1


def _count_inventory_queries(client, query) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(INVENTORY, query)
    assert response.status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_rows(as_auditor, tenant, global_admin_role, app_admin_role):
    def add(count: int, offset: int) -> None:
        for n in range(offset, offset + count):
            principal = make_principal(
                tenant,
                f"App {n:03d}",
                app_owner_organization_id="other-org" if n % 2 else "",
                last_sign_in_at=None if n % 3 else timezone.now(),
            )
            make_assignment(principal, global_admin_role if n % 2 else app_admin_role)

    add(3, 0)
    query = {"per_page": 200, "q": "App", "role": global_admin_role.pk}
    few = _count_inventory_queries(as_auditor, {"per_page": 200})
    few_filtered = _count_inventory_queries(as_auditor, query)
    add(57, 3)
    many = _count_inventory_queries(as_auditor, {"per_page": 200})
    many_filtered = _count_inventory_queries(as_auditor, query)

    assert as_auditor.get(INVENTORY, {"per_page": 200}).context["table"].paginator.count == 60
    assert few == many
    assert few_filtered == many_filtered


def test_empty_state_before_any_sync(as_auditor, db):
    response = as_auditor.get(INVENTORY)
    assert response.status_code == 200
    assert "No sync has run yet — an admin can start one on the" in response.content.decode()
    assert reverse("identities:sync").encode() in response.content


def test_empty_state_when_filters_match_nothing(as_auditor, varied):
    response = as_auditor.get(INVENTORY, {"q": "no such thing"})
    assert b"No assignments match these filters" in response.content
    assert b"Export CSV" not in response.content


def test_empty_state_when_the_tenant_has_nothing_privileged(as_auditor, tenant):
    response = as_auditor.get(INVENTORY)
    assert b"Nothing to review" in response.content


def test_export_link_carries_the_filters_but_not_the_page(as_auditor, varied):
    response = as_auditor.get(INVENTORY, {"kind": "eligible", "page": "1", "sort": "role"})
    assert (
        response.context["export_url"] == reverse("identities:inventory_export") + "?kind=eligible"
    )
