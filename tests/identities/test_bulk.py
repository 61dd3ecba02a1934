"""The one-statement upsert: created and changed flags, and what a second listing may overwrite."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identities.bulk import record_sign_ins, upsert
from identities.models import Assignment, RoleDefinition, ServicePrincipal, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return Tenant.objects.create(tenant_id="t-1")


def principal_rows(tenant, names):
    now = timezone.now()
    return [
        {
            "tenant": tenant.pk,
            "object_id": f"sp-{i}",
            "display_name": name,
            "app_id": f"app-{i}",
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for i, name in enumerate(names)
    ]


def upsert_principals(tenant, names, run_id):
    return upsert(
        ServicePrincipal,
        principal_rows(tenant, names),
        conflict=("tenant", "object_id"),
        update=("display_name", "last_seen_at"),
        compare=("display_name",),
        run_id=run_id,
        returning=("object_id",),
    )


def test_it_reports_new_rows_then_nothing_then_only_real_changes(tenant):
    assert upsert_principals(tenant, ["a", "b"], 1) == [("sp-0", True, True), ("sp-1", True, True)]
    assert upsert_principals(tenant, ["a", "b"], 2) == [
        ("sp-0", False, False),
        ("sp-1", False, False),
    ]
    assert upsert_principals(tenant, ["a", "<b>"], 3) == [
        ("sp-0", False, False),
        ("sp-1", False, True),
    ]
    rows = ServicePrincipal.objects.order_by("object_id")
    assert [(p.display_name, p.first_seen_run, p.last_seen_run) for p in rows] == [
        ("a", 1, 3),
        ("<b>", 1, 3),
    ]


def test_a_page_is_one_statement(tenant):
    with CaptureQueriesContext(connection) as queries:
        upsert_principals(tenant, [f"name {i}" for i in range(500)], 1)
    assert len(queries) == 1


def test_fields_kept_when_seen_survive_a_second_listing_in_the_same_run(tenant):
    role = RoleDefinition.objects.create(tenant=tenant, object_id="r", display_name="Role")
    upsert_principals(tenant, ["a"], 1)
    principal = ServicePrincipal.objects.get()
    now = timezone.now()

    def row(granted_via, schedule_id, role_assignment_id):
        return {
            "tenant": tenant.pk,
            "principal": principal.pk,
            "role": role.pk,
            "directory_scope_id": "/",
            "kind": "active",
            "granted_via": granted_via,
            "schedule_id": schedule_id,
            "role_assignment_id": role_assignment_id,
            "removed_at": None,
            "first_seen_at": now,
            "last_seen_at": now,
        }

    def write(rows, run_id, direct):
        update = ("granted_via", "schedule_id", "removed_at", "last_seen_at")
        if direct:
            update = ("role_assignment_id", *update)
        return upsert(
            Assignment,
            rows,
            conflict=("tenant", "principal", "role", "directory_scope_id", "kind"),
            update=update,
            compare=tuple(f for f in update if f != "last_seen_at"),
            keep_when_seen=("granted_via", "schedule_id") if direct else (),
            run_id=run_id,
        )

    write([row("pim", "sched-1", "")], 1, direct=False)
    write([row("direct", "", "ra-1")], 1, direct=True)
    kept = Assignment.objects.get()
    assert (kept.granted_via, kept.schedule_id, kept.role_assignment_id) == (
        "pim",
        "sched-1",
        "ra-1",
    )

    # Next run: same two listings, nothing changes.
    write([row("pim", "sched-1", "")], 2, direct=False)
    ((_, created, changed),) = write([row("direct", "", "ra-1")], 2, direct=True)
    assert (created, changed) == (False, False)

    # Next run without the schedule: the direct listing now decides.
    ((_, created, changed),) = write([row("direct", "", "ra-1")], 3, direct=True)
    assert changed
    kept.refresh_from_db()
    assert (kept.granted_via, kept.schedule_id) == ("direct", "")


def test_sign_ins_are_written_per_page_by_app_id(tenant):
    upsert_principals(tenant, ["a", "b"], 1)
    when = timezone.now().replace(microsecond=0)

    record_sign_ins(ServicePrincipal, tenant.pk, 1, [("app-0", when), ("unknown-app", when)])

    a, b = ServicePrincipal.objects.order_by("object_id")
    assert (a.last_sign_in_at, a.sign_in_known, a.sign_in_run) == (when, True, 1)
    assert (b.last_sign_in_at, b.sign_in_known) == (None, False)
