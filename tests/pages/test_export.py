"""The CSV export: same rows as the page, a header, and no formulas for spreadsheets."""

from __future__ import annotations

import csv
import io

from django.urls import reverse
from django.utils import timezone

from identities.export import CSV_HEADER, csv_cell
from identities.models import Assignment
from tests.factories import (
    make_assignment,
    make_grant,
    make_permission,
    make_principal,
    make_role,
)

EXPORT = reverse("identities:inventory_export")


def read_csv(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_it_has_the_header_row_and_one_row_per_assignment(as_auditor, tenant, global_admin_role):
    principal = make_principal(
        tenant,
        "Payroll",
        app_id="app-payroll",
        owners=[
            {"id": "u1", "displayName": "Ann", "userPrincipalName": "ann@contoso.test"},
            {"id": "s1", "type": "#microsoft.graph.servicePrincipal", "displayName": "Robot"},
        ],
        owner_count=2,
    )
    make_assignment(principal, global_admin_role, kind=Assignment.Kind.ELIGIBLE)

    response = as_auditor.get(EXPORT)

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="spreview-inventory-')
    header, *rows = read_csv(response)
    assert tuple(header) == CSV_HEADER
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["principal display name"] == "Payroll"
    assert row["appId"] == "app-payroll"
    assert row["object id"] == principal.object_id
    assert row["role"] == "Global Administrator"
    assert row["role id"] == global_admin_role.object_id
    assert row["scope"] == "Tenant"
    assert row["kind"] == "eligible"
    assert row["enabled"] == "yes"
    assert row["multi-tenant"] == "no"
    assert row["owners"] == "2"
    assert row["owner UPNs"] == "ann@contoso.test; Robot"


def test_it_honours_the_filters(as_auditor, tenant, global_admin_role):
    make_assignment(make_principal(tenant, "Kept", owners=[], owner_count=0), global_admin_role)
    make_assignment(make_principal(tenant, "Owned"), global_admin_role)

    _header, *rows = read_csv(as_auditor.get(EXPORT, {"ownerless": "on"}))

    assert [row[0] for row in rows] == ["Kept"]


def test_it_leaves_out_removed_non_privileged_and_foreign_rows(
    as_auditor, tenant, other_tenant, global_admin_role, reader_role
):
    make_assignment(make_principal(tenant, "Current"), global_admin_role)
    make_assignment(make_principal(tenant, "Gone"), global_admin_role, removed_at=timezone.now())
    make_assignment(make_principal(tenant, "Reader"), reader_role)
    make_assignment(make_principal(other_tenant, "Foreign"), make_role(other_tenant, "GA"))

    _header, *rows = read_csv(as_auditor.get(EXPORT))

    assert [row[0] for row in rows] == ["Current"]


def test_it_neutralises_formulas(as_auditor, tenant, global_admin_role):
    make_assignment(
        make_principal(tenant, '=HYPERLINK("http://evil.test","click")', app_id="+1"),
        global_admin_role,
    )

    _header, *rows = read_csv(as_auditor.get(EXPORT))

    assert rows[0][0] == '\'=HYPERLINK("http://evil.test","click")'
    assert rows[0][2] == "'+1"


def test_csv_cell_prefixes_every_formula_trigger():
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(dangerous) == "'" + dangerous
    assert csv_cell("Payroll") == "Payroll"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "yes"
    assert csv_cell(3) == "3"


def test_an_invalid_filter_is_refused(as_auditor, tenant):
    response = as_auditor.get(EXPORT, {"kind": "bogus"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_it_is_empty_but_for_the_header_before_any_sync(as_auditor, db):
    assert read_csv(as_auditor.get(EXPORT)) == [list(CSV_HEADER)]


def test_it_says_whether_the_last_sign_in_is_unknown_or_never(
    as_auditor, tenant, global_admin_role
):
    make_assignment(make_principal(tenant, "A", sign_in_known=False), global_admin_role)
    make_assignment(
        make_principal(tenant, "B", sign_in_known=True, last_sign_in_at=None), global_admin_role
    )

    header, *rows = read_csv(as_auditor.get(EXPORT))

    column = header.index("last sign-in")
    assert sorted((row[0], row[column]) for row in rows) == [("A", "unknown"), ("B", "never")]


FIRST_COLUMNS = (
    "principal display name", "object id", "appId", "type", "enabled", "multi-tenant", "role",
    "role id", "scope", "kind", "granted via", "expires", "owners", "owner UPNs", "last sign-in",
    "first seen", "last seen",
)  # fmt: skip


def test_privilege_type_api_tier_and_reason_come_after_the_existing_columns(
    as_auditor, tenant, global_admin_role
):
    global_admin_role.tier, global_admin_role.tier_reason = 0, "Holds every permission."
    global_admin_role.save()
    permission = make_permission(
        tenant,
        "full_access_as_app",
        resource_name="Office 365 Exchange Online",
        tier=1,
        tier_reason="Reads every mailbox.",
    )
    unclassified = make_permission(tenant, "Custom.Read.All")
    principal = make_principal(tenant, "Mailer")
    make_assignment(principal, global_admin_role)
    make_grant(principal, permission)
    make_grant(principal, unclassified)

    header, *rows = read_csv(as_auditor.get(EXPORT))

    assert tuple(header) == (*FIRST_COLUMNS, "privilege type", "API", "tier", "tier reason")
    by_privilege = {row[6]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_privilege) == {"Global Administrator", "full_access_as_app", "Custom.Read.All"}
    role = by_privilege["Global Administrator"]
    assert (role["privilege type"], role["API"], role["tier"], role["tier reason"]) == (
        "role",
        "",
        "0",
        "Holds every permission.",
    )
    grant = by_privilege["full_access_as_app"]
    assert (grant["privilege type"], grant["API"], grant["tier"], grant["tier reason"]) == (
        "app_permission",
        "Office 365 Exchange Online",
        "1",
        "Reads every mailbox.",
    )
    assert (grant["kind"], grant["granted via"], grant["scope"]) == (
        "app_permission",
        "app_role",
        "Tenant",
    )
    assert by_privilege["Custom.Read.All"]["tier"] == "unclassified"


def test_the_tier_and_type_filters_narrow_the_export(as_auditor, tenant, global_admin_role):
    make_assignment(make_principal(tenant, "Role holder"), global_admin_role)
    make_grant(make_principal(tenant, "Tier 0 holder"), make_permission(tenant, "A.All", tier=0))
    make_grant(make_principal(tenant, "Tier 2 holder"), make_permission(tenant, "B.All", tier=2))

    _header, *rows = read_csv(as_auditor.get(EXPORT, {"privilege_type": "app_permission"}))
    assert sorted(row[0] for row in rows) == ["Tier 0 holder", "Tier 2 holder"]
    _header, *rows = read_csv(as_auditor.get(EXPORT, {"tier": "0"}))
    assert [row[0] for row in rows] == ["Tier 0 holder"]
    assert as_auditor.get(EXPORT, {"tier": "7"}).status_code == 400


def test_a_formula_in_a_permission_or_its_api_is_neutralised(as_auditor, tenant):
    permission = make_permission(tenant, "=cmd|' /C calc'!A0", resource_name="@SUM(1)")
    make_grant(make_principal(tenant, "Evil"), permission)

    header, *rows = read_csv(as_auditor.get(EXPORT))

    row = dict(zip(header, rows[0], strict=True))
    assert row["role"] == "'=cmd|' /C calc'!A0"
    assert row["API"] == "'@SUM(1)"
