"""The sync mirrors application permissions: exactly the grants service principals hold on the
monitored APIs, named and tiered, swept only after a complete read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from identities.graph import GraphClient
from identities.graph.directory import DEFAULT_ACCESS_ROLE_ID, Directory
from identities.models import Assignment, RoleDefinition, ServicePrincipal, SyncRun
from identities.tiers import classification

from .test_sync import run_sync

pytestmark = pytest.mark.django_db

PERMISSION = RoleDefinition.PrivilegeType.APP_PERMISSION


def mirrored_grants() -> set[tuple[str, str, str]]:
    """(principal, resource, appRoleId) of every current application permission in the mirror."""
    return set(
        Assignment.objects.current()
        .filter(kind="app_permission")
        .values_list("principal__object_id", "role__resource_object_id", "role__object_id")
    )


def grants_in(sim) -> list:
    return list(sim.tenant.app_role_assignments)


def expected_grant(sim):
    """A grant the sync must mirror, and its record in the simulator."""
    expected = sim.tenant.expected_app_permission_grants()
    principal_id, resource_id, role_id = sorted(expected)[0]
    return next(
        g
        for g in grants_in(sim)
        if (g.principal_id, g.resource_id, g.app_role_id) == (principal_id, resource_id, role_id)
    )


def value_of(sim, grant) -> str:
    resource = sim.tenant.service_principals[grant.resource_id]
    return next(r["value"] for r in resource.app_roles if r["id"] == grant.app_role_id)


def paged_directory(page_size: int = 10) -> Directory:
    return Directory(GraphClient.from_settings(), grant_page_size=page_size)


class RewritingDirectory(Directory):
    """The real Directory whose grants to some principals Graph returns damaged."""

    def __init__(self, targets: set[str], damage: Callable[[dict], None]) -> None:
        super().__init__(GraphClient.from_settings(), grant_page_size=10)
        self.targets = targets
        self.damage = damage

    def app_role_grant_pages(self, resource_id):
        for page in super().app_role_grant_pages(resource_id):
            for item in page:
                if item.get("principalId") in self.targets:
                    self.damage(item)
            yield page


def snapshot() -> list[tuple]:
    return [
        *Assignment.objects.order_by("pk").values_list(
            "pk",
            "principal_id",
            "role_id",
            "kind",
            "granted_via",
            "role_assignment_id",
            "starts_at",
            "removed_at",
            "changed_run",
            "reappeared_run",
        ),
        *RoleDefinition.objects.order_by("pk").values_list(
            "pk",
            "privilege_type",
            "object_id",
            "resource_object_id",
            "value",
            "display_name",
            "description",
            "tier",
            "tier_reason",
            "tier_source",
        ),
        *ServicePrincipal.objects.order_by("pk").values_list(
            "pk",
            "display_name",
            "credentials",
            "owners",
            "application_id",
            "application_state",
            "next_credential_expiry",
            "changed_run",
        ),
    ]


@pytest.mark.parametrize("sim_tenant", [(10, 1), (40, 3), (150, 11)], indirect=True)
def test_it_mirrors_exactly_the_permission_grants_service_principals_hold(graph_settings, sim):
    expected = sim.tenant.expected_app_permission_grants()
    assert expected, "the generated tenant must hold application permissions"

    run = run_sync(directory=paged_directory())

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert mirrored_grants() == expected
    roles = sim.tenant.expected_privileged_sp_assignments()
    assert run.assignments_seen == len(expected) + len(roles)
    assert run.assignments_created == len(expected) + len(roles)
    by_id = {g.id: g for g in grants_in(sim)}
    for grant in Assignment.objects.filter(kind="app_permission").select_related("role"):
        assert (grant.granted_via, grant.directory_scope_id) == ("app_role", "/")
        assert by_id[grant.role_assignment_id].app_role_id == grant.role.object_id
        assert grant.starts_at is not None


def test_grants_to_users_groups_default_access_and_other_apis_are_ignored(graph_settings, sim):
    noise = [g for g in grants_in(sim) if g.principal_type != "ServicePrincipal"]
    default_access = [g for g in grants_in(sim) if g.app_role_id == DEFAULT_ACCESS_ROLE_ID]
    assert noise, "the tenant must have users or groups holding app roles"
    assert default_access, "the tenant must have default-access assignments"

    run_sync()

    stored = set(ServicePrincipal.objects.values_list("object_id", flat=True))
    assert not stored & {g.principal_id for g in noise}
    assert not RoleDefinition.objects.filter(object_id=DEFAULT_ACCESS_ROLE_ID).exists()
    monitored = set(
        RoleDefinition.objects.filter(privilege_type=PERMISSION).values_list(
            "resource_object_id", flat=True
        )
    )
    assert {resource for _, resource, _ in mirrored_grants()} <= monitored


def test_permissions_are_named_by_their_value_and_tiered_with_a_reason(graph_settings, sim):
    run_sync()

    definitions = RoleDefinition.objects.filter(privilege_type=PERMISSION)
    assert definitions.exists()
    for d in definitions:
        resource = sim.tenant.service_principals[d.resource_object_id]
        app_role = next(r for r in resource.app_roles if r["id"] == d.object_id)
        assert (d.value, d.display_name) == (app_role["value"], app_role["value"])
        assert d.description == app_role["displayName"]
        assert (d.resource_app_id, d.resource_name) == (resource.app_id, resource.display_name)
        assert d.is_privileged
        tier = classification().permission(d.resource_app_id, d.object_id, d.value)
        assert d.tier == (tier.tier if tier else None)
        assert d.tier_reason == (tier.why if tier else "")
    top = definitions.get(value="RoleManagement.ReadWrite.Directory")
    assert top.tier == 0 and top.tier_reason and top.tier_source == "built-in"
    assert RoleDefinition.objects.filter(privilege_type="role", tier=0).exists()
    global_admin = RoleDefinition.objects.get(template_id="62e90394-69f5-4237-9190-012177145e10")
    assert global_admin.tier == 0 and global_admin.tier_reason


def test_a_second_run_changes_nothing(graph_settings, sim):
    first = run_sync()
    before = snapshot()

    second = run_sync()

    assert second.status == SyncRun.Status.SUCCEEDED, second.error_message
    assert (second.assignments_created, second.assignments_updated) == (0, 0)
    assert (second.principals_created, second.principals_updated) == (0, 0)
    assert second.assignments_removed == 0
    assert second.assignments_seen == first.assignments_seen
    assert snapshot() == before


def test_a_removed_grant_is_swept_only_after_a_complete_read(graph_settings, sim):
    run_sync(directory=paged_directory())
    before = mirrored_grants()
    gone = expected_grant(sim)
    assert sim.tenant.remove_app_role_assignment(gone.id)
    sim.faults.fail_page("appRoleAssignedTo", page=2, status=500, code="UnknownError", times=10)

    failed = run_sync(directory=paged_directory())

    assert failed.status == SyncRun.Status.FAILED
    assert failed.error_code == "UnknownError"
    assert failed.assignments_removed == 0
    assert mirrored_grants() == before
    sim.faults.clear()

    complete = run_sync(directory=paged_directory())

    assert complete.status == SyncRun.Status.SUCCEEDED, complete.error_message
    assert complete.assignments_removed == 1
    assert mirrored_grants() == sim.tenant.expected_app_permission_grants()
    swept = Assignment.objects.get(role_assignment_id=gone.id)
    assert swept.removed_at is not None and swept.changed_run == complete.pk


def test_a_regrant_reappears_on_the_same_row_with_the_new_id(graph_settings, sim):
    run_sync()
    old = expected_grant(sim)
    row = Assignment.objects.get(role_assignment_id=old.id)
    sim.tenant.remove_app_role_assignment(old.id)
    assert run_sync().assignments_removed == 1
    new_id = sim.tenant.add_app_role_assignment(
        old.principal_id, sim.tenant.service_principals[old.resource_id].app_id, value_of(sim, old)
    )
    assert new_id != old.id

    run = run_sync()

    row.refresh_from_db()
    assert row.removed_at is None
    assert row.role_assignment_id == new_id
    assert row.reappeared_run == run.pk
    assert Assignment.objects.filter(role_assignment_id__in=[old.id, new_id]).count() == 1


def test_throttling_during_the_listing_is_retried(graph_settings, sim):
    sim.faults.throttle(times=3, retry_after=0.05, path_contains="appRoleAssignedTo")
    directory = paged_directory()

    run = run_sync(directory=directory)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert directory.client.stats.retries >= 3
    assert mirrored_grants() == sim.tenant.expected_app_permission_grants()


def test_a_refused_listing_fails_the_run_and_sweeps_nothing(graph_settings, sim):
    run_sync()
    before = mirrored_grants()
    sim.tenant.remove_app_role_assignment(expected_grant(sim).id)
    sim.faults.forbid("appRoleAssignedTo")

    run = run_sync()

    assert (run.status, run.error_code) == (SyncRun.Status.FAILED, "Authorization_RequestDenied")
    assert run.assignments_removed == 0
    assert mirrored_grants() == before


def _without_principal_type(item: dict) -> None:
    item.pop("principalType")


def _id_not_a_string(item: dict) -> None:
    item["id"] = 7


@pytest.mark.parametrize("damage", [_without_principal_type, _id_not_a_string])
def test_grants_whose_holder_cannot_be_read_are_kept_and_counted(graph_settings, sim, damage):
    run_sync()
    expected = sim.tenant.expected_app_permission_grants()
    targets = {principal_id for principal_id, _, _ in sorted(expected)[:2]}

    run = run_sync(directory=RewritingDirectory(targets, damage))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert run.assignments_removed == 0
    assert mirrored_grants() == expected
    assert run.rows_unreadable >= len(targets)
    assert "could not be read" in run.notes


def test_a_grant_whose_key_cannot_be_read_fails_the_run_naming_the_row(graph_settings, sim):
    run_sync()
    expected = sim.tenant.expected_app_permission_grants()

    def bad_permission(item: dict) -> None:
        item["appRoleId"] = ["not", "an", "id"]
        item["id"] = "grant-<b>9</b>"

    target = sorted(expected)[0][0]
    run = run_sync(directory=RewritingDirectory({target}, bad_permission))

    assert (run.status, run.error_code) == (SyncRun.Status.FAILED, "UnreadableRow")
    assert "appRoleId is not an id" in run.error_message
    assert "grant-<b>9</b>" in run.error_message
    assert "app permission grants" in run.error_message
    assert run.assignments_removed == 0
    assert mirrored_grants() == expected


def test_a_grant_of_a_permission_the_api_does_not_list_is_mirrored_by_its_id(graph_settings, sim):
    grant = expected_grant(sim)
    unknown = "5b1b7bb5-6a3c-4f0e-9d0e-0123456789ab"

    def unlisted_permission(item: dict) -> None:
        if item["id"] == grant.id:
            item["appRoleId"] = unknown

    run = run_sync(directory=RewritingDirectory({grant.principal_id}, unlisted_permission))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    definition = RoleDefinition.objects.get(object_id=unknown)
    assert (definition.privilege_type, definition.display_name) == (PERMISSION, unknown)
    assert definition.resource_object_id == grant.resource_id
    held = Assignment.objects.get(role_assignment_id=grant.id)
    assert held.role == definition and held.removed_at is None


def test_an_api_absent_from_the_tenant_is_skipped_and_noted(graph_settings, sim):
    absent = "11111111-2222-3333-4444-555555555555"
    graph_settings.APP_PERMISSION_RESOURCES = [*graph_settings.APP_PERMISSION_RESOURCES, absent]

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert absent in run.notes and "skipped" in run.notes
    assert mirrored_grants() == sim.tenant.expected_app_permission_grants()


def test_grants_of_an_api_no_longer_monitored_are_swept_behind_the_guard(graph_settings, sim):
    run_sync()
    monitored = graph_settings.APP_PERMISSION_RESOURCES
    graph = graph_settings.MICROSOFT_GRAPH_APP_ID
    graph_settings.APP_PERMISSION_RESOURCES = [a for a in monitored if a != graph]
    on_graph = Assignment.objects.current().filter(role__resource_app_id=graph).count()
    assert on_graph > 1

    holding = run_sync()

    # Many grants unlisted at once: held until a second complete read confirms.
    assert holding.status == SyncRun.Status.SUCCEEDED
    assert (holding.assignments_removed, holding.sweep_held) == (0, on_graph)
    confirming = run_sync()
    assert confirming.assignments_removed == on_graph
    assert not Assignment.objects.current().filter(role__resource_app_id=graph).exists()


def test_principals_privileged_only_through_permissions_get_their_details(graph_settings, sim):
    run_sync()

    holders = {p for p, _, _ in sim.tenant.expected_app_permission_grants()}
    role_holders = sim.tenant.principal_ids_with_privileged_roles()
    only_permissions = holders - role_holders
    assert only_permissions, "the tenant must hold principals privileged only by permissions"
    for principal in ServicePrincipal.objects.filter(object_id__in=only_permissions):
        sim_principal = sim.tenant.service_principals[principal.object_id]
        assert principal.details_synced_at is not None
        assert principal.app_id == sim_principal.app_id
        assert principal.display_name == sim_principal.display_name
