"""One service principal: its facts, roles, credentials and owners."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from identities.graph.values import graph_datetime
from identities.models import ServicePrincipal
from tests.factories import make_assignment, make_principal


def page(client, principal):
    return client.get(reverse("identities:principal", args=[principal.pk]))


def iso(delta: timedelta) -> str:
    return (timezone.now() + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_it_shows_the_principal(as_auditor, tenant):
    principal = make_principal(
        tenant,
        "Payroll connector",
        app_id="app-123",
        sp_type=ServicePrincipal.Type.APPLICATION,
        app_owner_organization_id="f00d-org",
        tags=["WindowsAzureActiveDirectoryIntegratedApp"],
        owners=[
            {
                "id": "u1",
                "type": "#microsoft.graph.user",
                "displayName": "Ann Owner",
                "userPrincipalName": "ann@contoso.test",
                "mail": "ann.mail@contoso.test",
            }
        ],
        deleted_at=timezone.now(),
    )

    content = page(as_auditor, principal).content.decode()

    for text in (
        "Payroll connector",
        "app-123",
        principal.object_id,
        "multi-tenant",
        "f00d-org",
        "WindowsAzureActiveDirectoryIntegratedApp",
        "Ann Owner",
        "ann@contoso.test",
        "ann.mail@contoso.test",
        ">user<",
        "deleted",
    ):
        assert text in content, text


def test_it_shows_current_roles_and_the_removal_history(
    as_auditor, tenant, global_admin_role, app_admin_role
):
    principal = make_principal(tenant, "Two roles")
    make_assignment(principal, global_admin_role)
    removed_at = timezone.now() - timedelta(days=3)
    make_assignment(principal, app_admin_role, removed_at=removed_at)

    response = page(as_auditor, principal)

    assert [a.role for a in response.context["current_assignments"]] == [global_admin_role]
    assert [a.role for a in response.context["removed_assignments"]] == [app_admin_role]
    content = response.content.decode()
    assert "History" in content
    assert removed_at.strftime("%Y-%m-%d") in content


def test_it_badges_expired_and_expiring_credentials(as_auditor, tenant):
    principal = make_principal(
        tenant,
        credentials=[
            {
                "kind": "secret",
                "keyId": "k-old",
                "displayName": "old secret",
                "start": iso(timedelta(days=-400)),
                "end": iso(timedelta(days=-2)),
            },
            {
                "kind": "certificate",
                "keyId": "k-soon",
                "displayName": "soon cert",
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "start": iso(timedelta(days=-300)),
                "end": iso(timedelta(days=10, hours=1)),
            },
            {"kind": "secret", "keyId": "k-today", "end": iso(timedelta(hours=5))},
            {
                "kind": "secret",
                "keyId": "k-far",
                "displayName": "far secret",
                "end": iso(timedelta(days=300)),
            },
        ],
    )

    content = page(as_auditor, principal).content.decode()

    assert "old secret" in content
    assert '<span class="badge badge-danger">expired</span>' in content
    assert "expires in 10 days" in content
    assert "expires in under a day" in content
    assert "AsymmetricX509Cert / Verify" in content
    assert '<span class="badge badge-success">valid</span>' in content


def test_a_garbage_credential_date_does_not_break_the_page(as_auditor, tenant):
    principal = make_principal(
        tenant,
        credentials=[
            {
                "kind": "secret",
                "keyId": "k1",
                "displayName": "bad",
                "start": "yesterday",
                "end": "2024-13-45T99:99:99Z",
            },
            {"kind": "secret", "keyId": "k2", "start": 12, "end": {"odd": True}},
            "not even a dict",
            {"kind": "certificate", "keyId": "k3", "end": "2030-01-01T00:00:00.1234567Z"},
        ],
    )

    response = page(as_auditor, principal)

    assert response.status_code == 200
    content = response.content.decode()
    assert "end unknown" in content
    assert "2024-13-45T99:99:99Z" in content
    assert "2030-01-01" in content


def test_credential_dates_are_read_leniently():
    assert graph_datetime("2030-01-01T00:00:00Z").year == 2030
    assert graph_datetime("2030-01-01T00:00:00").tzinfo is not None
    assert graph_datetime("2030-01-01T00:00:00.1234567Z").year == 2030
    for junk in ("", "  ", "nope", "2024-13-45T99:99:99Z", None, 5, {}, []):
        assert graph_datetime(junk) is None


def test_credentials_are_listed_soonest_expiry_first(tenant):
    principal = make_principal(
        tenant,
        credentials=[
            {"keyId": "late", "end": iso(timedelta(days=90))},
            {"keyId": "unknown", "end": "?"},
            {"keyId": "early", "end": iso(timedelta(days=-1))},
        ],
    )
    assert [row.key_id for row in principal.credential_rows()] == ["early", "late", "unknown"]


def test_sign_in_unknown_is_not_called_inactive(as_auditor, tenant):
    principal = make_principal(tenant, sign_in_known=False, last_sign_in_at=None)
    content = page(as_auditor, principal).content.decode()
    assert "unknown" in content
    assert 'badge-warning">inactive' not in content


def test_an_unknown_principal_is_not_found(as_auditor, tenant):
    response = as_auditor.get(reverse("identities:principal", args=[987654]))
    assert response.status_code == 404


def test_no_principal_is_found_before_the_tenant_exists(as_auditor, settings, tenant):
    principal = make_principal(tenant)
    settings.AZURE_TENANT_ID = "not-this-one"
    assert page(as_auditor, principal).status_code == 404


def test_owner_rows_shorten_the_type_and_skip_items_that_are_not_owners():
    principal = ServicePrincipal(
        owners=[
            {"id": "s1", "type": "#microsoft.graph.servicePrincipal", "displayName": "Robot"},
            "not a dict",
            {"id": "u1", "userPrincipalName": "ann@contoso.test", "mail": None},
        ]
    )
    assert principal.owner_rows() == [
        {"id": "s1", "type": "servicePrincipal", "display_name": "Robot", "upn": "", "mail": ""},
        {"id": "u1", "type": "", "display_name": "", "upn": "ann@contoso.test", "mail": ""},
    ]
    assert ServicePrincipal(owners={"not": "a list"}).owner_rows() == []
