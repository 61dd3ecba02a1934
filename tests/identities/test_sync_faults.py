"""The sync under faults: it can never wipe the mirror.

A run taken for dead while alive stops at its next write and sweeps nothing (fencing); a live run
is never taken for dead however slow Graph is (heartbeat thread); a sweep of a large share of the
mirror waits for a second complete read; rows the sync cannot read never cause a sweep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone

from identities import sync
from identities.graph import GraphClient
from identities.graph.directory import Directory
from identities.models import Assignment, SyncRun, Tenant
from identities.pipeline import map_ahead
from reviews.models import AuditEvent

from .test_sync import mirrored, run_sync

REMOVED = "identities.assignment.removed"


def reap_every_running_run(settings) -> int:
    """The reaper as it acts on a run it takes for dead, whatever its heartbeat says."""
    later = timezone.now() + timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS + 1)
    return sync.reap_stale_runs(now=later)


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list]:
    """Run `target` on a thread with its own database connection (closed at the end)."""
    result: list = []

    def body() -> None:
        try:
            result.append(target())
        except BaseException as exc:  # handed to the test
            result.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, result


class GatedDirectory(Directory):
    """The real Directory, held at its first principal read until the test opens the gate."""

    def __init__(self, client: GraphClient) -> None:
        super().__init__(client)
        self.reached = threading.Event()
        self.gate = threading.Event()

    def service_principals(self, ids):
        self.reached.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().service_principals(ids)


class RewritingDirectory(Directory):
    """The real Directory whose assignment rows of some principals Graph returns damaged."""

    def __init__(self, client: GraphClient, targets: set[str], damage: Callable[[dict], None]):
        super().__init__(client)
        self.targets = targets
        self.damage = damage

    def assignment_pages(self, source, role_ids):
        for page in super().assignment_pages(source, role_ids):
            for item in page:
                if item.get("principalId") in self.targets:
                    self.damage(item)
            yield page


# --------------------------------------------------------------------------- fencing


@pytest.mark.django_db(transaction=True)
def test_a_run_reaped_while_alive_sweeps_nothing_when_it_finishes_late_and_is_marked_lost(
    graph_settings, sim
):
    run_sync()
    expected = sim.tenant.expected_privileged_sp_assignments()
    slow = GatedDirectory(GraphClient.from_settings())
    late, outcome = in_thread(lambda: run_sync(directory=slow))
    assert slow.reached.wait(30)

    assert reap_every_running_run(graph_settings) == 1
    second = run_sync()
    slow.gate.set()
    late.join(30)

    assert mirrored(sim.tenant.tenant_id) == expected
    assert not Assignment.objects.filter(removed_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action=REMOVED).exists()
    assert second.status == SyncRun.Status.SUCCEEDED, second.error_message
    assert second.assignments_removed == 0
    lost = SyncRun.objects.get(pk=outcome[0].pk)
    assert lost.assignments_removed == 0
    assert (lost.status, lost.error_code) == ("lost", "LockLost")


@pytest.mark.django_db(transaction=True)
def test_the_reaper_never_takes_a_run_in_the_middle_of_a_page_write_and_the_next_write_stops(
    settings,
):
    tenant = Tenant.objects.create(tenant_id="fenced-tenant")
    run = sync.start_run(tenant, trigger="test")
    writer = sync.TenantSync(run, directory=None)

    with writer._fenced():
        reaper, reaped_during = in_thread(lambda: reap_every_running_run(settings))
        reaper.join(10)
        assert reaped_during == [0], "a run writing a page is passed over, without waiting"
    assert reap_every_running_run(settings) == 1
    with pytest.raises(sync.LockLost), writer._fenced():
        pytest.fail("a write after the reap must not run")


@pytest.mark.django_db(transaction=True)
def test_a_run_reaped_between_pages_writes_no_further_page(graph_settings, sim):
    run_sync()
    expected = sim.tenant.expected_privileged_sp_assignments()

    class ReapedAfterFirstPage(Directory):
        def assignment_pages(self, source, role_ids):
            for number, page in enumerate(super().assignment_pages(source, role_ids)):
                if number == 1:
                    reap_every_running_run(graph_settings)
                    connection.close()  # the read-ahead thread's own connection
                yield page

    run = run_sync(directory=ReapedAfterFirstPage(GraphClient.from_settings()))

    written = Assignment.objects.filter(last_seen_run=run.pk).count()
    assert written <= 2 * 10, "at most the pages read before the reap (page size 10)"
    assert written < len(expected)
    assert mirrored(sim.tenant.tenant_id) == expected
    assert (run.status, run.error_code) == ("lost", "LockLost")


@pytest.mark.slow  # waits out a 2.5 s Retry-After
@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_run_alive_while_graph_is_slower_than_the_stale_window(
    graph_settings, sim
):
    graph_settings.SYNC_STALE_AFTER_SECONDS = 1
    graph_settings.SYNC_HEARTBEAT_SECONDS = 0.2
    graph_settings.GRAPH_MAX_BACKOFF_SECONDS = 5
    sim.faults.throttle(times=1, retry_after=2.5, path_contains="/owners")

    syncing, outcome = in_thread(run_sync)
    reaped = 0
    while syncing.is_alive():
        reaped += sync.reap_stale_runs()
        time.sleep(0.1)

    assert reaped == 0
    assert outcome[0].status == SyncRun.Status.SUCCEEDED, outcome[0].error_message
    assert outcome[0].duration.total_seconds() > 2.5


def test_a_consumer_that_stops_early_does_not_wait_for_the_fetch_in_flight():
    def fetch(n: int) -> int:
        if n > 0:
            time.sleep(3)
        return n

    started = time.monotonic()
    with pytest.raises(sync.LockLost):
        for _ in map_ahead(fetch, range(3)):
            raise sync.LockLost

    assert time.monotonic() - started < 1.5


# --------------------------------------------------------------------------- sweep guard


def unlisted_in_graph(sim, count: int) -> list[tuple[str, str, str, str]]:
    gone = sorted(sim.tenant.expected_privileged_sp_assignments())[:count]
    for principal_id, role_id, scope, kind in gone:
        sim.tenant.remove_assignment(principal_id, role_id, scope, kind)
    return gone


@pytest.mark.django_db
def test_a_sweep_above_the_share_is_held_until_a_second_complete_read_confirms_it(
    graph_settings, sim
):
    graph_settings.APP_PERMISSION_RESOURCES = []  # the share counts role assignments alone
    run_sync()
    before = mirrored(sim.tenant.tenant_id)
    held = len(before) * 3 // 10
    unlisted_in_graph(sim, held)

    holding = run_sync()

    assert holding.status == SyncRun.Status.SUCCEEDED
    assert holding.assignments_removed == 0
    assert mirrored(sim.tenant.tenant_id) == before
    assert not AuditEvent.objects.filter(action=REMOVED).exists()
    assert holding.sweep_held == held
    percent = round(100 * held / len(before))
    message = f"{held} assignments ({percent} %) no longer listed: held until a second complete"
    assert message in holding.notes
    assert message in render_to_string("identities/_sync_progress.html", {"run": holding})

    confirming = run_sync()

    assert (confirming.assignments_removed, confirming.sweep_held) == (held, 0)
    assert mirrored(sim.tenant.tenant_id) == sim.tenant.expected_privileged_sp_assignments()
    assert AuditEvent.objects.filter(action=REMOVED).count() == held
    assert not Assignment.objects.exclude(sweep_held_run=0).exists()


@pytest.mark.django_db
def test_a_held_assignment_listed_again_is_kept_and_no_longer_held(graph_settings, sim):
    graph_settings.APP_PERMISSION_RESOURCES = []  # the share counts role assignments alone
    run_sync()
    before = mirrored(sim.tenant.tenant_id)
    gone = unlisted_in_graph(sim, len(before) // 2)
    assert run_sync().sweep_held == len(gone)
    back, still_gone = gone[:-1], gone[-1]
    for principal_id, role_id, scope, kind in back:
        sim.tenant.add_role_assignment(principal_id, role_id, scope, kind=kind)

    confirming = run_sync()

    assert confirming.assignments_removed == 1
    assert mirrored(sim.tenant.tenant_id) == before - {still_gone}
    assert not Assignment.objects.exclude(sweep_held_run=0).exists()


@pytest.mark.parametrize(
    ("unlisted", "current", "held"),
    [
        (1, 3, False),  # one removal from a small mirror is the everyday case
        (2, 3, True),
        (1, 1, True),  # it would empty the mirror
        (3, 3, True),
        (2, 10, False),  # exactly 20 %: not above the share
        (3, 10, True),
        (0, 10, False),
        (0, 0, False),
    ],
)
def test_which_sweeps_wait_for_a_second_read(settings, unlisted, current, held):
    settings.SYNC_MAX_SWEEP_SHARE = 0.2
    assert sync.sweep_is_suspect(unlisted, current) is held


def test_a_share_of_one_turns_the_guard_off(settings):
    settings.SYNC_MAX_SWEEP_SHARE = 1
    assert not sync.sweep_is_suspect(10, 10)


# --------------------------------------------------------------------------- unreadable rows


def _null_principal(item: dict) -> None:
    item["principal"] = None


def _principal_without_type(item: dict) -> None:
    item["principal"].pop("@odata.type")


def _principal_without_id(item: dict) -> None:
    item["principal"].pop("id")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "damage", [_null_principal, _principal_without_type, _principal_without_id]
)
def test_rows_whose_principal_cannot_be_read_sweep_nothing_and_are_counted(
    graph_settings, sim, damage
):
    run_sync()
    expected = sim.tenant.expected_privileged_sp_assignments()
    targets = {principal_id for principal_id, *_ in sorted(expected)[:2]}
    damaged = RewritingDirectory(GraphClient.from_settings(), targets, damage)

    run = run_sync(directory=damaged)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert run.assignments_removed == 0
    assert mirrored(sim.tenant.tenant_id) == expected
    assert not AuditEvent.objects.filter(action=REMOVED).exists()
    assert run.rows_unreadable >= len(targets)
    assert "could not be read" in run.notes


@pytest.mark.django_db
def test_a_row_whose_key_cannot_be_read_fails_the_run_naming_the_listing_and_row(
    graph_settings, sim
):
    run_sync()
    expected = sim.tenant.expected_privileged_sp_assignments()
    target = sorted(expected)[0][0]

    def bad_role(item: dict) -> None:
        item["roleDefinitionId"] = 42
        item["id"] = "row-<b>7</b>"

    run = run_sync(directory=RewritingDirectory(GraphClient.from_settings(), {target}, bad_role))

    assert run.assignments_removed == 0
    assert mirrored(sim.tenant.tenant_id) == expected
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "UnreadableRow"
    assert "roleDefinitionId is not a string" in run.error_message
    assert "row-<b>7</b>" in run.error_message
    assert "schedules" in run.error_message or "assignments" in run.error_message


# --------------------------------------------------------------------------- sign-in note


@pytest.mark.django_db
def test_a_later_sign_in_page_failing_names_its_status_not_a_permission(graph_settings, sim):
    sim.faults.fail_page("servicePrincipalSignInActivities", page=2, status=404, code="NotFound")

    run = run_sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.sign_in_activity == "unavailable"
    assert "404 NotFound after 1 page" in run.notes
    assert "AuditLog.Read.All" not in run.notes
