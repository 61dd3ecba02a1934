"""The audit log as a hash chain per tenant: whatever is changed past the database's guard (as
the tables' owner or a superuser can) is found by `verify_audit`, at its first broken link."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from itertools import pairwise

import psycopg2
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.permissions import AUDITOR_GROUP
from reviews import audit, services
from reviews.audit_chain import HASHED_FIELDS, event_hash, head_line, values_of, verify_chains
from reviews.models import AuditEvent, AuditHead, Campaign, Decision
from tests.factories import login, make_world

from .test_pages_results import csv_rows

TABLE = "reviews_auditevent"


def verify(*expect: str) -> tuple[int, str]:
    """Run `manage.py verify_audit`: (exit status, what it printed)."""
    out = io.StringIO()
    try:
        call_command("verify_audit", *(f"--expect={e}" for e in expect), stdout=out)
    except CommandError:
        return 1, out.getvalue()
    return 0, out.getvalue()


def past_the_trigger(sql: str, params: list | None = None) -> None:
    """What an owner or superuser can do: switch the append-only trigger off, write, switch on."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER reviews_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER reviews_auditevent_append_only")


def chain_of(tenant_id: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tenant_id=tenant_id).order_by("seq"))


@pytest.fixture
def reviewed(db):
    """A cycle decided one by one and in bulk (record_many), stopped and applied."""
    world = make_world(default_decision=Campaign.Default.REVOKE)
    services.record_decision(
        world.items["payroll"].pk, "approve", "Needed nightly", actor=world.reviewer_a
    )
    services.accept_recommendations(world.cycle.pk, actor=world.reviewer_a)
    services.record_decision(world.items["crm"].pk, "revoke", "Unused", actor=world.reviewer_b)
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    services.request_apply(world.cycle.pk, actor=world.admin)
    for item in world.cycle.items.filter(outcome=Decision.REVOKE):
        services.apply_item(item.pk, None)  # a read-only deployment: to-dos for an admin
    return world


def test_it_keeps_one_valid_chain_through_decisions_close_and_apply(reviewed):
    chain = chain_of(reviewed.tenant.tenant_id)
    assert len(chain) >= 8
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert all(e.prev_hash == p.hash for p, e in pairwise(chain))
    assert [e.at for e in chain] == sorted(e.at for e in chain)

    status, output = verify()

    assert status == 0, output
    head = head_line(reviewed.tenant.tenant_id, chain[-1].seq, chain[-1].hash)
    assert f"ok     {reviewed.tenant.tenant_id}: {len(chain)} events, head {head}" in output


def test_it_hashes_every_stored_column_but_the_hash():
    stored = {f.attname for f in AuditEvent._meta.concrete_fields}
    assert set(HASHED_FIELDS) == stored - {"hash"}


def test_it_hashes_values_as_the_database_gives_them_back(db):
    made = audit.record("test.values", new={"n": (1, 2.0), 3: {"b": 1e20, "a": None}})
    stored = AuditEvent.objects.get(pk=made.pk)
    assert stored.new == {"n": [1, 2.0], "3": {"b": 1e20, "a": None}}
    assert event_hash(values_of(stored)) == stored.hash == made.hash


def test_events_made_with_objects_create_join_the_chain(db):
    first = AuditEvent.objects.create(actor_label="system", action="test.create")
    second = audit.record("test.record")
    assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)
    assert verify()[0] == 0


def test_it_finds_a_row_edited_past_the_trigger(reviewed):
    target = chain_of(reviewed.tenant.tenant_id)[3]
    past_the_trigger(f"UPDATE {TABLE} SET summary = 'nothing to see' WHERE id = %s", [target.pk])

    status, output = verify()

    assert status == 1
    assert f"first broken link at event id {target.pk}, seq 4: stored hash does not match" in (
        output
    )
    assert "edited" in output


def test_it_reports_only_the_first_broken_link(reviewed):
    chain = chain_of(reviewed.tenant.tenant_id)
    for victim in (chain[5], chain[2]):
        past_the_trigger(f"UPDATE {TABLE} SET actor_label = 'x' WHERE id = %s", [victim.pk])

    output = verify()[1]

    assert f"event id {chain[2].pk}, seq 3" in output
    assert "seq 6" not in output


def test_it_finds_a_deleted_row(reviewed):
    chain = chain_of(reviewed.tenant.tenant_id)
    past_the_trigger(f"DELETE FROM {TABLE} WHERE id = %s", [chain[2].pk])

    status, output = verify()

    assert status == 1
    assert f"event id {chain[3].pk}, seq 4: seq 3 missing before it: events were deleted" in (
        output
    )


def test_it_finds_events_deleted_from_the_end(reviewed):
    chain = chain_of(reviewed.tenant.tenant_id)
    past_the_trigger(f"DELETE FROM {TABLE} WHERE id IN %s", [tuple(e.pk for e in chain[-2:])])

    status, output = verify()

    assert status == 1
    assert (
        f"first broken link at event id -, seq {len(chain) - 1}: the chain ends at seq "
        f"{len(chain) - 2} but its head was recorded at seq {len(chain) - 1}"
    ) in output


def forged(head: AuditEvent, **fields) -> AuditEvent:
    """An event chained after `head` as an attacker who knows the algorithm would write it."""
    event = audit.event("reviews.decision.approve", tenant_id=head.tenant_id, summary="forged")
    event.id = head.pk + 10_000
    event.seq = fields.pop("seq", head.seq + 1)
    event.prev_hash = head.hash
    event.at = fields.pop("at", head.at)
    event.hash = event_hash(values_of(event))
    return event


def test_it_finds_a_back_dated_insert(reviewed):
    """No trigger stands in the way of an INSERT: the chain itself must show it."""
    head = chain_of(reviewed.tenant.tenant_id)[-1]
    event = forged(head, at=head.at - timedelta(days=3))
    event.save(force_insert=True)
    AuditHead.objects.create(tenant_id=head.tenant_id, seq=event.seq, hash=event.hash)

    status, output = verify()

    assert status == 1
    assert f"event id {event.pk}, seq {event.seq}: at " in output
    assert f"is earlier than seq {head.seq}'s: back-dated" in output


def test_it_finds_an_insert_that_skips_a_seq_or_bypasses_the_writer(reviewed):
    head = chain_of(reviewed.tenant.tenant_id)[-1]
    forged(head, seq=head.seq + 2).save(force_insert=True)
    assert f"seq {head.seq + 1} missing before it" in verify()[1]


def test_it_finds_an_event_inserted_outside_the_audit_writer(reviewed):
    head = chain_of(reviewed.tenant.tenant_id)[-1]
    forged(head).save(force_insert=True)  # chained well, but no head recorded
    assert "appended without recording a head" in verify()[1]


def test_it_finds_an_event_squeezed_in_with_a_seq_already_taken(reviewed):
    chain = chain_of(reviewed.tenant.tenant_id)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT reviews_audit_chain_seq")
    forged(chain[2], seq=4).save(force_insert=True)
    assert "seq 4 appears twice: an event was inserted into the chain" in verify()[1]


def test_it_finds_a_truncated_chain_rebuilt_from_scratch(reviewed):
    tenant_id = reviewed.tenant.tenant_id
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")
    for n in range(3):
        audit.record("reviews.decision.approve", tenant_id=tenant_id, summary=f"rebuilt {n}")
    rebuilt = chain_of(tenant_id)
    assert [e.seq for e in rebuilt] == [1, 2, 3]  # consistent in itself

    status, output = verify()

    assert status == 1
    assert "truncated and rebuilt" in output or "events at its end were deleted" in output


def test_a_published_head_finds_a_chain_rebuilt_with_its_heads(reviewed):
    """Truncating the heads too leaves only what was published: a results CSV's last row."""
    response = login(reviewed.auditor).get(reverse("reviews:results_csv", args=[reviewed.cycle.pk]))
    published = csv_rows(response)[-1][1]
    assert verify(published)[0] == 0
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}, reviews_audithead")
    audit.record("reviews.decision.approve", tenant_id=reviewed.tenant.tenant_id)
    assert verify()[0] == 0  # nothing inside the database can tell

    status, output = verify(published)

    assert status == 1
    assert "events at its end were deleted" in output


def test_the_results_csv_ends_with_the_chain_head(reviewed):
    chain = chain_of(reviewed.tenant.tenant_id)
    response = login(reviewed.auditor).get(reverse("reviews:results_csv", args=[reviewed.cycle.pk]))
    rows = csv_rows(response)
    assert rows[-1][:2] == [
        "audit chain head",
        f"{reviewed.tenant.tenant_id}:{chain[-1].seq}:{chain[-1].hash}",
    ]
    assert len(rows[-1]) == len(rows[0])


def test_verify_audit_refuses_a_malformed_expected_head(db):
    with pytest.raises(CommandError, match="TENANT:SEQ:HASH"):
        call_command("verify_audit", "--expect=t:1:short", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_two_threads_keep_one_valid_chain():
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            start.wait(timeout=10)
            for n in range(25):
                with transaction.atomic():
                    audit.record("test.concurrent", tenant_id="t-race", summary=f"{name} {n}")
                    bulk = audit.event("test.bulk", tenant_id="t-race", summary=f"{name} b")
                    audit.record_many([bulk])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    chain = chain_of("t-race")
    assert [e.seq for e in chain] == list(range(1, 101))
    assert {e.summary.split()[0] for e in chain} == {"left", "right"}
    assert [r.ok for r in verify_chains()] == [True]


# --------------------------------------------------------------------------- Django admin


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root-admin", "root@contoso.example", "pw")


def _change_form(user, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return data


def test_an_admin_edit_of_a_users_groups_is_audited(superuser):
    group = Group.objects.create(name=AUDITOR_GROUP)
    clerk = get_user_model().objects.create_user("clerk", "clerk@contoso.example", "old-pw")
    url = reverse("admin:auth_user_change", args=[clerk.pk])

    response = login(superuser).post(url, _change_form(clerk, groups=[group.pk]))

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="admin.user.changed")
    assert event.actor_id == superuser.pk and event.actor_label == "root-admin"
    assert event.object_id == str(clerk.pk)
    assert (event.old, event.new) == ({"groups": []}, {"groups": [AUDITOR_GROUP]})
    assert verify()[0] == 0


def test_an_admin_password_change_is_audited_without_the_hash(superuser):
    clerk = get_user_model().objects.create_user("clerk", "clerk@contoso.example", "old-pw")
    url = reverse("admin:auth_user_password_change", args=[clerk.pk])

    response = login(superuser).post(
        url,
        {
            "password1": "A-new-long-pass-9",
            "password2": "A-new-long-pass-9",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    clerk.refresh_from_db()
    event = AuditEvent.objects.get(action="admin.user.changed")
    assert (event.old, event.new) == ({"password": "***"}, {"password": "***"})
    assert event.summary == "User clerk changed in the admin: password"
    assert clerk.password not in str(event.old) + str(event.new) + event.summary


def test_admin_edits_of_groups_and_their_permissions_are_audited(superuser):
    permission = Permission.objects.get(codename="view_auditevent")
    client = login(superuser)

    client.post(
        reverse("admin:auth_group_add"), {"name": "Readers", "permissions": [permission.pk]}
    )
    group = Group.objects.get(name="Readers")
    client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})

    added, deleted = AuditEvent.objects.filter(object_type="group").order_by("seq")
    assert (added.action, added.new) == (
        "admin.group.added",
        {"name": "Readers", "permissions": ["reviews.view_auditevent"]},
    )
    assert (deleted.action, deleted.old["name"], deleted.new) == (
        "admin.group.deleted",
        "Readers",
        None,
    )


# --------------------------------------------------------------------------- the app's role


@pytest.fixture
def app_role(db):
    """A role made for this test in the test database (roles are per cluster: a unique name;
    created inside the test's transaction, so it is gone afterwards)."""
    name = f"spreview_app_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN")
    call_command("grant_app_role", name, stdout=io.StringIO())
    return name


def as_role(role: str, sql: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(sql, params)


def test_the_app_role_can_append_and_read_the_audit_log_but_not_rewrite_it(app_role, reviewed):
    victim = chain_of(reviewed.tenant.tenant_id)[0].pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        made = audit.record("test.as_app", tenant_id=reviewed.tenant.tenant_id)  # INSERT, lock
        assert verify()[0] == 0  # SELECT
        Campaign.objects.filter(pk=reviewed.campaign.pk).update(name="Renamed")  # other DML
    assert AuditEvent.objects.filter(pk=made.pk).exists()

    refused = {
        "UPDATE": f"UPDATE {TABLE} SET summary = 'x' WHERE id = {victim}",
        "DELETE": f"DELETE FROM {TABLE} WHERE id = {victim}",
        "TRUNCATE": f"TRUNCATE {TABLE}",
        "DISABLE TRIGGER": f"ALTER TABLE {TABLE} DISABLE TRIGGER reviews_auditevent_append_only",
        "heads": "DELETE FROM reviews_audithead",
    }
    for what, sql in refused.items():
        try:
            as_role(app_role, sql)
        except DatabaseError as exc:
            assert re.search("permission denied|must be owner", str(exc)), (what, exc)
        else:
            pytest.fail(f"the app role was allowed: {what}")


def test_grant_app_role_refuses_a_superuser(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", owner, stdout=io.StringIO())


def test_migrate_refuses_owner_credentials_for_another_database(settings):
    settings.MIGRATE_DATABASE_URL = "postgres://owner@127.0.0.1:5432/some_other_database"
    with pytest.raises(CommandError, match="must be the same database"):
        call_command("migrate", "--check", stdout=io.StringIO())


def test_grant_app_role_refuses_to_run_as_anyone_but_the_owner(app_role):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        with pytest.raises(CommandError, match="tables' owner"):
            call_command("grant_app_role", app_role, stdout=io.StringIO())


# --------------------------------------------------------------------------- old databases


@pytest.fixture
def scratch_database_url():
    """A database of its own for `manage.py migrate` in a subprocess, dropped afterwards."""
    params = connection.settings_dict
    name = f"spreview_audit_mig_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(
        dbname="postgres", user=params["USER"], host=params["HOST"], port=params["PORT"]
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    user = params["USER"] or "postgres"
    yield f"postgres://{user}@{params['HOST']}:{params['PORT'] or 5432}/{name}"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def manage(url: str, *args: str, owner_url: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "MIGRATE_DATABASE_URL": owner_url}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # migrates a scratch database from zero
def test_the_migration_chains_an_old_databases_events_so_that_it_verifies(scratch_database_url):
    assert manage(scratch_database_url, "migrate", "reviews", "0006").returncode == 0
    old = psycopg2.connect(scratch_database_url)
    with old, old.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviews_auditevent (at, actor_label, action, tenant_id, object_type,"
            " object_id, summary, old, new)"
            " SELECT now() - i * interval '1 minute', 'system', 'test.old',"
            " CASE WHEN i % 3 = 0 THEN '' ELSE 'tenant-a' END, '', '', 'old ' || i,"
            " CASE WHEN i % 2 = 0 THEN NULL ELSE jsonb_build_object('n', i, 'f', 2.0) END,"
            ' \'{"b": [1, 1.5], "a": null}\'::jsonb FROM generate_series(1, 300) AS i'
        )
    old.close()

    migrated = manage(scratch_database_url, "migrate")
    verified = manage(scratch_database_url, "verify_audit")

    assert migrated.returncode == 0, migrated.stderr
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok     (no tenant): 100 events, head :100:" in verified.stdout
    assert "ok     tenant-a: 200 events, head tenant-a:200:" in verified.stdout


def test_app_roles_changed_at_entra_sign_in_are_audited_with_old_and_new(db):
    from accounts.signals import roles_changed

    person = get_user_model().objects.create_user("oid-pat", "pat@contoso.example")
    roles_changed.send(sender=None, user=person, changes=["+Admin", "-Auditor"])

    event = AuditEvent.objects.get(action="identities.roles.changed")
    assert event.actor_id == person.pk
    assert event.old == {"Admin": False, "Auditor": True}
    assert event.new == {"changes": ["+Admin", "-Auditor"], "Admin": True, "Auditor": False}


@pytest.mark.slow  # migrates a scratch database from zero
def test_migrate_runs_as_the_owner_and_the_app_role_only_appends(scratch_database_url):
    """The docker-compose sequence: migrate and grant_app_role with MIGRATE_DATABASE_URL, then
    the app with DATABASE_URL alone (its role created by grant_app_role from that URL)."""
    role = f"spreview_app_{uuid.uuid4().hex[:12]}"
    owner, _, rest = scratch_database_url.removeprefix("postgres://").partition("@")
    app_url = f"postgres://{role}:app-password@{rest}"
    try:
        migrated = manage(app_url, "migrate", owner_url=scratch_database_url)
        granted = manage(app_url, "grant_app_role", owner_url=scratch_database_url)
        recorded = manage(
            app_url,
            "shell",
            "-c",
            "from reviews import audit; audit.record('t.app', tenant_id='t')",
        )
        verified = manage(app_url, "verify_audit")

        assert migrated.returncode == 0, migrated.stderr
        assert f"Created role {role}." in granted.stdout, granted.stderr
        assert recorded.returncode == 0, recorded.stderr
        assert verified.returncode == 0 and "ok     t: 1 events" in verified.stdout
        as_app = psycopg2.connect(app_url)
        with as_app.cursor() as cursor:
            cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", [TABLE])
            assert cursor.fetchone() == (owner,)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute(f"UPDATE {TABLE} SET summary = 'x'")
        as_app.close()
    finally:
        cleanup = psycopg2.connect(scratch_database_url)
        cleanup.autocommit = True
        with cleanup.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone():
                cursor.execute(f"DROP OWNED BY {role}")
                cursor.execute(f"DROP ROLE {role}")
        cleanup.close()
