"""The sync against the simulator: exactly the privileged service-principal assignments, no more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identities import sync
from identities.graph import GraphClient
from identities.graph.directory import Directory
from identities.models import Assignment, RoleDefinition, ServicePrincipal, SyncRun, Tenant
from identities.privileged_roles import PRIVILEGED_TEMPLATE_IDS

pytestmark = pytest.mark.django_db


def run_sync(**kwargs) -> SyncRun:
    return sync.sync_configured_tenant(trigger="test", **kwargs)


def mirrored(tenant_id: str) -> set[tuple[str, str, str, str]]:
    """The mirror's current directory-role assignments (application permissions aside)."""
    return set(
        Assignment.objects.current()
        .filter(tenant__tenant_id=tenant_id, kind__in=("active", "eligible"))
        .values_list("principal__object_id", "role__object_id", "directory_scope_id", "kind")
    )


def snapshot() -> list[tuple]:
    assignments = list(
        Assignment.objects.order_by("pk").values_list(
            "pk",
            "principal_id",
            "role_id",
            "directory_scope_id",
            "kind",
            "granted_via",
            "role_assignment_id",
            "schedule_id",
            "expires_at",
            "removed_at",
        )
    )
    principals = list(
        ServicePrincipal.objects.order_by("pk").values_list(
            "pk", "display_name", "credentials", "owners", "last_sign_in_at", "deleted_at"
        )
    )
    return assignments + principals


@pytest.mark.parametrize("sim_tenant", [(10, 1), (40, 3), (150, 11)], indirect=True)
def test_it_mirrors_exactly_the_privileged_service_principal_assignments(graph_settings, sim):
    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    expected = sim.tenant.expected_privileged_sp_assignments()
    assert expected, "the generated tenant must hold privileged service-principal assignments"
    assert mirrored(sim.tenant.tenant_id) == expected
    # The run's counts cover application permissions too.
    grants = sim.tenant.expected_app_permission_grants()
    assert run.assignments_seen == len(expected) + len(grants)
    assert run.assignments_created == len(expected) + len(grants)
    assert {kind for *_, kind in expected} == {"active", "eligible"}


def test_users_and_groups_holding_roles_never_become_principals(graph_settings, sim):
    holders = sim.tenant.role_holders_that_are_not_service_principals()
    assert holders, "the tenant must have users or groups holding privileged roles"

    run_sync()

    stored = set(ServicePrincipal.objects.values_list("object_id", flat=True))
    assert stored
    assert not stored & holders


def test_a_second_run_changes_nothing(graph_settings, sim):
    first = run_sync()
    before = snapshot()

    second = run_sync()

    assert second.status == SyncRun.Status.SUCCEEDED
    assert (second.assignments_created, second.assignments_updated) == (0, 0)
    assert second.assignments_removed == 0
    assert (second.principals_created, second.principals_updated) == (0, 0)
    assert second.assignments_seen == first.assignments_seen
    assert snapshot() == before


def test_the_tenant_takes_the_configured_display_name(graph_settings, sim, settings):
    run_sync()
    tenant = Tenant.objects.get()
    assert str(tenant) == sim.tenant.tenant_id  # no name configured: the id names it

    settings.TENANT_DISPLAY_NAME = "  Contoso <Production>  "
    run_sync()
    tenant.refresh_from_db()
    assert tenant.display_name == "Contoso <Production>" and str(tenant) == tenant.display_name


def test_a_removed_assignment_is_swept_on_the_next_complete_run(graph_settings, sim):
    run_sync()
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)

    run = run_sync()

    assert run.assignments_removed == 1
    gone = Assignment.objects.get(
        principal__object_id=principal_id,
        role__object_id=role_id,
        directory_scope_id=scope,
        kind=kind,
    )
    assert gone.removed_at is not None
    assert mirrored(sim.tenant.tenant_id) == sim.tenant.expected_privileged_sp_assignments()


def test_a_reappearing_assignment_is_current_again(graph_settings, sim):
    run_sync()
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)
    run_sync()
    sim.tenant.add_role_assignment(principal_id, role_id, scope, kind=kind)

    run = run_sync()

    assert run.assignments_updated >= 1
    assert (principal_id, role_id, scope, kind) in mirrored(sim.tenant.tenant_id)


def test_a_run_failing_mid_listing_sweeps_nothing_and_records_the_graph_error(graph_settings, sim):
    run_sync()
    before = mirrored(sim.tenant.tenant_id)
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)
    sim.faults.fail_page("roleAssignments", page=2, status=500, code="UnknownError", times=10)

    run = run_sync()

    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "UnknownError"
    assert run.request_id
    assert run.assignments_removed == 0
    assert mirrored(sim.tenant.tenant_id) == before


def test_a_dead_worker_leaves_a_failed_run_and_sweeps_nothing(graph_settings, sim, settings):
    run_sync()
    before = mirrored(sim.tenant.tenant_id)
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)
    tenant = Tenant.objects.get()
    dead = SyncRun.objects.create(tenant=tenant, trigger="test", phase="reading")
    SyncRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS + 5)
    )

    assert sync.reap_stale_runs() == 1

    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert dead.error_code == "WorkerLost"
    assert dead.assignments_removed == 0
    assert mirrored(sim.tenant.tenant_id) == before
    assert run_sync().assignments_removed == 1


def test_it_reaps_a_run_once_its_heartbeat_is_older_than_the_stale_window_on_the_given_clock(
    settings,
):
    window = timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)
    run = SyncRun.objects.create(tenant=Tenant.objects.create(tenant_id="t"), trigger="test")
    beat = run.heartbeat_at

    assert sync.reap_stale_runs(now=beat + window - timedelta(seconds=1)) == 0
    assert sync.reap_stale_runs(now=beat + window + timedelta(seconds=1)) == 1

    run.refresh_from_db()
    assert (run.status, run.error_code) == (SyncRun.Status.FAILED, "WorkerLost")
    assert run.finished_at == beat + window + timedelta(seconds=1)


def test_two_syncs_of_one_tenant_never_run_at_once(graph_settings, sim):
    tenant = Tenant.objects.create(tenant_id=sim.tenant.tenant_id)
    running = sync.start_run(tenant, trigger="test")

    with pytest.raises(sync.SyncAlreadyRunning) as refused:
        run_sync()

    assert refused.value.run == running
    assert SyncRun.objects.count() == 1


def test_throttling_and_unavailability_are_retried_and_the_sync_completes(graph_settings, sim):
    sim.faults.throttle(times=3, retry_after=0.05)
    sim.faults.unavailable(times=2, status=503, retry_after=0.05)
    directory = Directory(GraphClient.from_settings())

    run = run_sync(directory=directory)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert directory.client.stats.retries >= 5
    assert mirrored(sim.tenant.tenant_id) == sim.tenant.expected_privileged_sp_assignments()


def test_a_permanent_403_fails_fast_with_a_message(graph_settings, sim):
    sim.faults.forbid("roleAssignments", status=403, code="Authorization_RequestDenied")
    directory = Directory(GraphClient.from_settings())

    run = run_sync(directory=directory)

    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "Authorization_RequestDenied"
    assert "403" in run.error_message
    assert directory.client.stats.retries == 0


def test_refused_sign_in_activity_completes_the_sync_and_says_so(graph_settings, sim):
    sim.faults.forbid("servicePrincipalSignInActivities", status=403)

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.sign_in_activity == "unavailable"
    assert "AuditLog.Read.All" in run.notes
    assert not ServicePrincipal.objects.filter(sign_in_known=True).exists()


def test_sign_in_activity_is_recorded_and_missing_means_never(graph_settings, sim):
    run = run_sync()

    assert run.sign_in_activity == "read"
    principals = ServicePrincipal.objects.all()
    assert all(p.sign_in_known for p in principals)
    assert principals.filter(last_sign_in_at__isnull=False).exists()
    assert principals.filter(last_sign_in_at__isnull=True).exists()


def test_without_beta_the_built_in_privileged_list_decides(graph_settings, sim):
    sim.faults.beta_unavailable = True

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert "built-in list" in run.notes
    privileged = RoleDefinition.objects.filter(is_privileged=True, privilege_type="role")
    assert privileged.exists()
    assert set(privileged.values_list("template_id", flat=True)) <= set(PRIVILEGED_TEMPLATE_IDS)
    assert all(r.privileged_source == "builtin_list" for r in privileged)
    stored = mirrored(sim.tenant.tenant_id)
    assert stored
    assert {role for _, role, _, _ in stored} <= set(PRIVILEGED_TEMPLATE_IDS)


def test_principal_details_owners_and_credentials_are_stored_without_secrets(graph_settings, sim):
    run_sync()

    principals = list(ServicePrincipal.objects.all())
    assert any(p.owner_count == 0 for p in principals)
    assert any(p.owner_count > 0 for p in principals)
    assert any(p.credentials for p in principals)
    for p in principals:
        assert p.details_synced_at is not None
        for credential in p.credentials:
            assert set(credential) == {
                "kind",
                "keyId",
                "displayName",
                "type",
                "usage",
                "hint",
                "start",
                "end",
            }
    hostile = [p for p in principals if "<" in p.display_name]
    assert hostile, "the generated tenant must hold a hostile display name"


def test_pim_and_direct_active_assignments_keep_their_removal_ids(graph_settings, sim):
    run_sync()

    active = Assignment.objects.current().filter(kind="active")
    assert active.filter(granted_via="direct").exclude(role_assignment_id="").exists()
    assert active.filter(granted_via="pim").exclude(schedule_id="").exists()
    assert not active.filter(granted_via="direct", role_assignment_id="").exists()
    eligible = Assignment.objects.current().filter(kind="eligible")
    assert eligible.exists()
    assert not eligible.exclude(granted_via="pim").exists()
