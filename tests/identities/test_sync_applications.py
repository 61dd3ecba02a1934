"""The sync mirrors who can become a privileged principal: the owners, credentials and federated
credentials of its app registration."""

from __future__ import annotations

import pytest

from identities.models import Application, ServicePrincipal, SyncRun

from .test_sync import run_sync

pytestmark = pytest.mark.django_db


def home_apps(sim) -> dict[str, object]:
    """The simulator's app registrations by appId."""
    return {a.app_id: a for a in sim.tenant.applications.values()}


def with_registration(sim) -> list[ServicePrincipal]:
    """Mirrored principals whose app registration is in the tenant."""
    apps = home_apps(sim)
    return [
        p
        for p in ServicePrincipal.objects.all()
        if p.sp_type == "Application"
        and p.app_owner_organization_id == sim.tenant.tenant_id
        and p.app_id in apps
    ]


def test_app_registrations_with_owners_credentials_and_federated_ones_are_mirrored(
    graph_settings, sim
):
    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    principals = with_registration(sim)
    assert principals, "the tenant must hold privileged principals with app registrations"
    apps = home_apps(sim)
    for principal in principals:
        sim_app = apps[principal.app_id]
        assert principal.application_state == "found"
        application = principal.application
        assert (application.object_id, application.app_id) == (sim_app.id, sim_app.app_id)
        assert application.object_id != principal.object_id
        assert {o["id"] for o in application.owners} == set(sim_app.owner_ids)
        assert application.owner_count == len(sim_app.owner_ids)
        key_ids = {c["keyId"] for c in application.credentials}
        assert key_ids == {
            c["keyId"] for c in sim_app.key_credentials + sim_app.password_credentials
        }
        for credential in application.credentials:
            assert set(credential) == {
                "kind", "keyId", "displayName", "type", "usage", "hint", "start", "end"
            }  # fmt: skip
        assert {
            (f["issuer"], f["subject"], f["name"]) for f in application.federated_credentials
        } == {
            (f["issuer"], f.get("subject") or "", f["name"]) for f in sim_app.federated_credentials
        }
    mirrored = [p.application for p in principals]
    assert any(a.federated_credentials for a in mirrored)
    assert any(o["type"] == "user" for a in mirrored for o in a.owners)
    assert any(o["type"] == "servicePrincipal" for a in mirrored for o in a.owners)
    flexible = [
        f for a in mirrored for f in a.federated_credentials if f["claimsMatchingExpression"]
    ]
    expected_flexible = [
        f
        for p in principals
        for f in apps[p.app_id].federated_credentials
        if f.get("claimsMatchingExpression")
    ]
    assert len(flexible) == len(expected_flexible)


def test_no_secret_value_is_ever_stored(graph_settings, sim):
    run_sync()

    for application in Application.objects.all():
        for credential in application.credentials:
            assert "secretText" not in credential and "key" not in credential


def test_managed_identities_and_other_organisations_apps_have_no_registration(graph_settings, sim):
    run_sync()

    elsewhere = ServicePrincipal.objects.exclude(
        sp_type="Application", app_owner_organization_id=sim.tenant.tenant_id
    )
    assert elsewhere.filter(sp_type="ManagedIdentity").exists()
    for principal in elsewhere:
        assert (principal.application_state, principal.application) == ("none", None)


def test_the_next_credential_expiry_considers_the_app_registration(graph_settings, sim):
    run_sync()

    sooner_on_registration = 0
    for principal in with_registration(sim):
        own = [c.end for c in principal.credential_rows() if c.status in ("valid", "expiring")]
        registration = principal.application.next_credential_expiry
        ends = [e for e in [*own, registration] if e is not None]
        assert principal.next_credential_expiry == (min(ends) if ends else None)
        if registration is not None and (not own or registration < min(own)):
            sooner_on_registration += 1
    assert sooner_on_registration, "some principal's soonest expiry must be on its registration"


def test_a_refused_registration_read_marks_them_unreadable_and_keeps_what_was_known(
    graph_settings, sim
):
    run_sync()
    known = {p.pk: p.application_id for p in with_registration(sim)}
    before = list(Application.objects.order_by("pk").values())
    sim.faults.forbid("/applications")

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert "App registrations could not be read" in run.notes
    assert "Application.Read.All" in run.notes
    for principal in ServicePrincipal.objects.filter(pk__in=known):
        assert principal.application_state == "unreadable"
        assert principal.application_id == known[principal.pk]
    assert list(Application.objects.order_by("pk").values()) == before
    assert run.assignments_removed == 0


def test_without_beta_federated_credentials_are_read_from_v1(graph_settings, sim):
    sim.faults.beta_unavailable = True

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    federated = [f for a in Application.objects.all() for f in a.federated_credentials]
    assert federated
    assert not any(f["claimsMatchingExpression"] for f in federated)


def test_a_second_run_changes_no_registration(graph_settings, sim):
    def registrations() -> list[tuple]:
        changing = {"last_seen_at", "last_seen_run"}
        names = [f.attname for f in Application._meta.concrete_fields if f.name not in changing]
        return list(Application.objects.order_by("pk").values_list(*names))

    run_sync()
    before = registrations()

    second = run_sync()

    assert second.principals_updated == 0
    assert registrations() == before


def test_a_deleted_registration_leaves_the_principal_without_one_and_is_dated(graph_settings, sim):
    run_sync()
    principal = with_registration(sim)[0]
    application = principal.application
    with sim.tenant.lock:
        del sim.tenant.applications[application.object_id]
        sim.tenant.touch()

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    principal.refresh_from_db()
    application.refresh_from_db()
    assert (principal.application_state, principal.application) == ("none", None)
    assert application.deleted_at is not None and application.changed_run == run.pk
