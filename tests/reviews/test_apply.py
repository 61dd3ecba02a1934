"""Close and apply against the simulator: revoked assignments really leave Entra ID, once each."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from identities.graph import GraphClient
from identities.models import Assignment
from reviews import services
from reviews.models import ApplyStatus, AuditEvent, Campaign, Cycle, ReviewItem

from . import apply_helpers
from .apply_helpers import (
    apply_all,
    closed_and_queued,
    graph_remover,
    open_cycle,
    removal_requests,
    reviewer,
    revoke_everything,
    split_by_mechanism,
    statuses,
    sync_tenant,
    triple,
)

pytestmark = pytest.mark.django_db

fresh_task_client = apply_helpers.fresh_task_client
no_broker = apply_helpers.no_broker

WRITE_ROLES = (
    "RoleManagement.ReadWrite.Directory",
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory",
)


def held(sim) -> set[tuple[str, str, str, str]]:
    return sim.tenant.expected_privileged_sp_assignments()


def mirrored() -> set[tuple[str, str, str, str]]:
    """The role assignments the mirror holds (application permissions have tests of their
    own: tests/reviews/test_permission_apply.py)."""
    return set(
        Assignment.objects.current()
        .exclude(kind=Assignment.Kind.APP_PERMISSION)
        .values_list("principal__object_id", "role__object_id", "directory_scope_id", "kind")
    )


def endpoint(request) -> str:
    """roleAssignments for a DELETE .../roleAssignments/{id}, else the collection POSTed to."""
    parts = request.path.split("?")[0].split("/")
    return parts[-2] if request.method == "DELETE" else parts[-1]


def one_of_each(items: list[ReviewItem]) -> list[ReviewItem]:
    groups = split_by_mechanism(items)
    return [groups["direct"][0], groups["pim_active"][0], groups["eligible"][0]]


# --------------------------------------------------------------------------- removing for real


def test_revoked_direct_pim_and_eligible_assignments_are_gone_from_entra_id(graph_settings, sim):
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    groups = split_by_mechanism(items)
    assert all(groups.values()), "the tenant must hold direct, PIM-active and eligible grants"
    assert {triple(i) for i in items} == held(sim)

    results = apply_all(items, graph_remover())

    assert set(results.values()) == {services.APPLIED}
    assert set(statuses(items).values()) == {ApplyStatus.APPLIED}
    assert held(sim) == set()
    requests = removal_requests(sim)
    assert len(requests) == len(items)
    assert Counter(endpoint(r) for r in requests) == {
        "roleAssignments": len(groups["direct"]),
        "roleAssignmentScheduleRequests": len(groups["pim_active"]),
        "roleEligibilityScheduleRequests": len(groups["eligible"]),
    }
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED
    assert cycle.applied_at is not None
    assert AuditEvent.objects.filter(action="reviews.removal.applied").count() == len(items)

    run = sync_tenant()
    assert mirrored() == set()
    # What is left is the application permissions, which this campaign did not review.
    assert run.assignments_seen == len(sim.tenant.expected_app_permission_grants())


def test_only_revoked_items_are_removed_and_kept_ones_stay(graph_settings, sim):
    rita = reviewer()
    sync_tenant()
    cycle = open_cycle(rita, default_decision=Campaign.Default.KEEP)
    revoke, approve = one_of_each(list(cycle.items.order_by("pk"))), []
    for item in revoke:
        services.record_decision(item.pk, "revoke", "no longer used", actor=rita)
    for item in cycle.items.exclude(pk__in=[i.pk for i in revoke])[:3]:
        services.record_decision(item.pk, "approve", "still needed", actor=rita)
        approve.append(item)
    before = held(sim)

    queued = closed_and_queued(cycle, rita)
    apply_all(queued, graph_remover())

    assert {i.pk for i in queued} == {i.pk for i in revoke}
    assert held(sim) == before - {triple(i) for i in revoke}
    assert {triple(i) for i in approve} <= held(sim)
    assert len(removal_requests(sim)) == len(revoke)
    sync_tenant()
    assert mirrored() == held(sim)


@pytest.mark.parametrize(
    ("mechanism", "answer"),
    [("direct", ("DELETE", 404)), ("pim_active", ("POST", 400)), ("eligible", ("POST", 400))],
)
def test_an_assignment_removed_in_entra_id_before_apply_is_already_gone(
    graph_settings, sim, mechanism, answer
):
    rita = reviewer()
    _cycle, items = revoke_everything(rita)
    item = split_by_mechanism(items)[mechanism][0]
    principal, role, scope, kind = triple(item)
    assert sim.tenant.remove_assignment(principal, role, scope, kind) >= 1

    result = services.apply_item(item.pk, graph_remover())

    item.refresh_from_db()
    assert result == services.APPLIED
    assert item.apply_status == ApplyStatus.ALREADY_GONE
    assert item.applied_at is not None
    assert [(r.method, r.status) for r in removal_requests(sim)] == [answer]
    assert AuditEvent.objects.filter(
        action="reviews.removal.already_gone", item_id=item.pk
    ).exists()
    assert Assignment.objects.get(pk=item.assignment_id).removed_at is not None


# --------------------------------------------------------------------------- throttling, outages


@pytest.mark.slow  # waits out the simulator's Retry-After
def test_throttling_and_unavailability_are_retried_and_everything_is_applied(graph_settings, sim):
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    # Ten refusals, at most four in a row for one request (the client gives up at six).
    sim.faults.throttle(times=3, retry_after=0.05, path_contains="roleAssignments/")
    sim.faults.throttle(times=2, retry_after=0.05, path_contains="roleAssignmentScheduleReq")
    sim.faults.unavailable(times=2, status=503, path_contains="roleAssignmentScheduleReq")
    sim.faults.unavailable(
        times=3, status=503, retry_after=0.05, path_contains="roleEligibilityScheduleReq"
    )
    client = GraphClient.from_settings()

    apply_all(items, graph_remover(client))

    assert set(statuses(items).values()) == {ApplyStatus.APPLIED}
    assert held(sim) == set()
    assert client.stats.retries == 10
    refused = [r for r in removal_requests(sim) if r.status in (429, 503)]
    assert len(refused) == 10
    assert len(removal_requests(sim, reached_tenant=True)) == len(items)
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED


def test_a_transient_failure_outlasting_the_client_retries_queues_the_item_again(
    graph_settings, sim
):
    graph_settings.GRAPH_MAX_ATTEMPTS = 2
    rita = reviewer()
    _, items = revoke_everything(rita)
    item = split_by_mechanism(items)["pim_active"][0]
    sim.faults.unavailable(times=2, status=503, path_contains="ScheduleRequests")

    first = services.apply_item(item.pk, graph_remover(), max_attempts=3)

    item.refresh_from_db()
    assert first == services.RETRY
    assert (item.apply_status, item.apply_attempts) == (ApplyStatus.QUEUED, 1)
    assert item.apply_error_code == "ServiceUnavailable"
    assert triple(item) in held(sim)

    second = services.apply_item(item.pk, graph_remover(), max_attempts=3)

    item.refresh_from_db()
    assert second == services.APPLIED
    assert (item.apply_status, item.apply_attempts) == (ApplyStatus.APPLIED, 2)
    assert (item.apply_error, item.apply_error_code) == ("", "")
    assert triple(item) not in held(sim)
    assert len(removal_requests(sim, reached_tenant=True)) == 1


def test_after_the_last_attempt_a_transient_failure_is_final_and_can_be_retried(
    graph_settings, sim
):
    graph_settings.GRAPH_MAX_ATTEMPTS = 1
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    item = split_by_mechanism(items)["direct"][0]
    sim.faults.throttle(times=100, retry_after=0.01, path_contains="roleAssignments/")

    outcomes = [services.apply_item(item.pk, graph_remover(), max_attempts=3) for _ in range(4)]

    item.refresh_from_db()
    assert outcomes == [services.RETRY, services.RETRY, services.FAILED, None]
    assert item.apply_status == ApplyStatus.FAILED
    assert item.apply_error_code == "TooManyRequests"
    assert AuditEvent.objects.filter(action="reviews.removal.failed", item_id=item.pk).count() == 1

    sim.faults.clear()
    assert services.retry_failed(cycle.pk, actor=rita) == 1
    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED
    assert triple(item) not in held(sim)


# --------------------------------------------------------------------------- permanent refusals


def test_a_read_only_app_gets_403_and_the_items_become_to_dos_until_write_is_granted(
    graph_settings, sim
):
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    chosen = one_of_each(items)
    granted = list(sim.tenant.app.roles)
    sim.tenant.app.roles[:] = [r for r in granted if r not in WRITE_ROLES]

    results = apply_all(chosen, graph_remover())

    assert set(results.values()) == {services.TODO}
    for item in ReviewItem.objects.filter(pk__in=[i.pk for i in chosen]):
        assert item.apply_status == ApplyStatus.MANUAL
        assert item.apply_error_code == "Authorization_RequestDenied"
        assert "RoleManagement.ReadWrite.Directory" in item.apply_error
        assert "remove it in Entra ID" in item.apply_error
        assert item.apply_request_id
    assert {r.status for r in removal_requests(sim)} == {403}
    assert {triple(i) for i in chosen} <= held(sim)

    sim.tenant.app.roles[:] = granted
    assert services.retry_failed(cycle.pk, actor=rita) == len(chosen)
    assert set(apply_all(chosen, graph_remover()).values()) == {services.APPLIED}
    assert not {triple(i) for i in chosen} & held(sim)


@pytest.mark.parametrize("mechanism", ["direct", "pim_active", "eligible"])
def test_another_permanent_error_fails_with_graphs_code_and_message_and_retry_applies_it(
    graph_settings, sim, mechanism
):
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    item = split_by_mechanism(items)[mechanism][0]
    target = "roleAssignments/" if mechanism == "direct" else "ScheduleRequests"
    sim.faults.forbid(
        target, status=400, code="InvalidRoleAssignmentRequest", message="Scope is locked."
    )

    result = services.apply_item(item.pk, graph_remover())

    item.refresh_from_db()
    assert result == services.FAILED
    assert item.apply_status == ApplyStatus.FAILED
    assert item.apply_error_code == "InvalidRoleAssignmentRequest"
    assert "Scope is locked." in item.apply_error
    assert item.apply_attempts == 1
    assert len(removal_requests(sim)) == 1
    assert triple(item) in held(sim)

    sim.faults.clear()
    assert services.retry_failed(cycle.pk, actor=rita) == 1
    item.refresh_from_db()
    assert (item.apply_status, item.apply_error) == (ApplyStatus.QUEUED, "")
    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED
    assert triple(item) not in held(sim)
    assert len(removal_requests(sim, reached_tenant=True)) == 2


def test_with_graph_writes_disabled_items_become_to_dos_and_nothing_is_sent(
    graph_settings, sim, fresh_task_client
):
    from reviews.tasks import apply_revocation

    graph_settings.GRAPH_WRITE_ENABLED = False
    rita = reviewer()
    _cycle, items = revoke_everything(rita)
    sim.requests.clear()

    for item in items:
        apply_revocation.apply(args=(item.pk,))

    for item in ReviewItem.objects.filter(pk__in=[i.pk for i in items]):
        assert item.apply_status == ApplyStatus.MANUAL
        assert "Read-only deployment" in item.apply_error
    assert removal_requests(sim) == []
    assert len(sim.requests) == 0
    assert held(sim) == {triple(i) for i in items}


def test_a_missing_graph_configuration_fails_the_item_with_the_setting_to_fix(
    graph_settings, sim, fresh_task_client
):
    from reviews.tasks import apply_revocation

    rita = reviewer()
    _, items = revoke_everything(rita)
    graph_settings.AZURE_CLIENT_SECRET = ""
    sim.requests.clear()

    apply_revocation.apply(args=(items[0].pk,))

    item = ReviewItem.objects.get(pk=items[0].pk)
    assert item.apply_status == ApplyStatus.FAILED
    assert item.apply_error_code == "GraphConfigError"
    assert "AZURE_CLIENT_SECRET" in item.apply_error
    assert len(sim.requests) == 0


def test_a_direct_item_without_a_role_assignment_id_fails_at_once(graph_settings, sim):
    rita = reviewer()
    _, items = revoke_everything(rita)
    item = split_by_mechanism(items)["direct"][0]
    ReviewItem.objects.filter(pk=item.pk).update(role_assignment_id="")

    result = services.apply_item(item.pk, graph_remover(), max_attempts=5)

    item.refresh_from_db()
    assert result == services.FAILED
    assert (item.apply_status, item.apply_error_code) == (ApplyStatus.FAILED, "NoRoleAssignmentId")
    assert removal_requests(sim) == []


# --------------------------------------------------------------------------- exactly once


def test_applying_an_item_twice_sends_one_removal(graph_settings, sim, fresh_task_client):
    from reviews.tasks import apply_revocation

    rita = reviewer()
    _cycle, items = revoke_everything(rita)
    remover = graph_remover()

    first = apply_all(items, remover)
    second = apply_all(items, remover)
    for item in items:
        apply_revocation.apply(args=(item.pk,))  # a duplicate delivery of the task

    assert set(first.values()) == {services.APPLIED}
    assert set(second.values()) == {None}
    assert len(removal_requests(sim)) == len(items)
    assert AuditEvent.objects.filter(action="reviews.removal.applied").count() == len(items)


@pytest.mark.slow  # four threads racing over every item
@pytest.mark.django_db(transaction=True)
def test_applying_each_item_from_four_threads_at_once_sends_one_removal_per_item(
    graph_settings, sim, no_broker
):
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    assert sorted(no_broker) == [i.pk for i in items]
    remover = graph_remover()
    sim.faults.latency = 0.02  # hold the claim winner inside Graph while the others try
    threads_per_item = 4
    barrier = threading.Barrier(threads_per_item)
    results: dict[int, list] = {i.pk: [] for i in items}
    errors: list[BaseException] = []

    def worker(item_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[item_id].append(services.apply_item(item_id, remover))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    for item in items:
        threads = [
            threading.Thread(target=worker, args=(item.pk,)) for _ in range(threads_per_item)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    assert errors == []
    for outcomes in results.values():
        assert sorted(outcomes, key=str) == [None, None, None, services.APPLIED]
    assert len(removal_requests(sim)) == len(items)
    assert held(sim) == set()
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED


@pytest.mark.slow  # threads racing over every item
@pytest.mark.django_db(transaction=True)
def test_all_items_applied_concurrently_settle_the_cycle_once(graph_settings, sim, no_broker):
    rita = reviewer()
    cycle, items = revoke_everything(rita)
    remover = graph_remover()
    pending = list(items) * 2  # every item twice, as a duplicate delivery would
    lock = threading.Lock()
    outcomes: list = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    item = pending.pop()
                outcome = services.apply_item(item.pk, remover)
                with lock:
                    outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert Counter(outcomes) == {services.APPLIED: len(items), None: len(items)}
    assert len(removal_requests(sim)) == len(items)
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED


# --------------------------------------------------------------------------- lost work


def test_an_item_left_applying_by_a_dead_worker_is_queued_again_and_applied(
    graph_settings, sim, no_broker
):
    rita = reviewer()
    _, items = revoke_everything(rita)
    item = items[0]
    assert services.claim_item(item.pk)  # the worker took it, then died before Graph
    no_broker.clear()
    later = timezone.now() + timedelta(seconds=graph_settings.APPLY_STALE_AFTER_SECONDS + 1)

    assert services.requeue_stalled(timezone.now()) == []
    requeued = services.requeue_stalled(later)

    item.refresh_from_db()
    assert requeued == [item.pk]
    assert item.apply_status == ApplyStatus.QUEUED
    assert no_broker == [item.pk]
    assert AuditEvent.objects.filter(action="reviews.removal.requeued", item_id=item.pk).exists()
    assert services.apply_item(item.pk, graph_remover()) == services.APPLIED
    assert len(removal_requests(sim)) == 1


def test_a_removal_sent_before_the_worker_died_is_already_gone_when_requeued(
    graph_settings, sim, no_broker
):
    rita = reviewer()
    _, items = revoke_everything(rita)
    item = split_by_mechanism(items)["direct"][0]
    assert services.claim_item(item.pk)
    graph_remover()(services.privilege_of(item), "sent, then the worker was killed")
    later = timezone.now() + timedelta(seconds=graph_settings.APPLY_STALE_AFTER_SECONDS + 1)

    services.requeue_stalled(later)
    result = services.apply_item(item.pk, graph_remover())

    item.refresh_from_db()
    assert (result, item.apply_status) == (services.APPLIED, ApplyStatus.ALREADY_GONE)


def test_an_item_that_kept_killing_its_worker_fails_instead_of_looping(
    graph_settings, sim, no_broker
):
    rita = reviewer()
    _cycle, items = revoke_everything(rita)
    item = items[0]
    assert services.claim_item(item.pk)
    ReviewItem.objects.filter(pk=item.pk).update(apply_attempts=3)
    later = timezone.now() + timedelta(seconds=graph_settings.APPLY_STALE_AFTER_SECONDS + 1)

    assert services.requeue_stalled(later, max_attempts=3) == []

    item.refresh_from_db()
    assert (item.apply_status, item.apply_error_code) == (ApplyStatus.FAILED, "WorkerLost")
    assert AuditEvent.objects.filter(action="reviews.removal.failed", item_id=item.pk).exists()
    assert removal_requests(sim) == []


def test_queued_removals_whose_task_was_lost_are_sent_again(graph_settings, sim, no_broker):
    rita = reviewer()
    _cycle, items = revoke_everything(rita)
    no_broker.clear()
    stale = timezone.now() + timedelta(seconds=graph_settings.APPLY_STALE_AFTER_SECONDS + 1)

    assert services.resend_queued(timezone.now()) == []
    assert sorted(services.resend_queued(stale)) == [i.pk for i in items]
    assert sorted(no_broker) == [i.pk for i in items]


def test_a_deferred_removal_is_retried_by_celery_with_waits_under_the_backoff(
    graph_settings, sim, fresh_task_client, settings
):
    from celery.signals import task_retry

    from reviews.tasks import apply_revocation

    graph_settings.GRAPH_MAX_ATTEMPTS = 1
    settings.APPLY_MAX_ATTEMPTS = 5
    rita = reviewer()
    _, items = revoke_everything(rita)
    item = split_by_mechanism(items)["pim_active"][0]
    sim.faults.unavailable(times=3, status=503, path_contains="ScheduleRequests")
    waits: list[float] = []

    def record(sender, reason, **_):
        waits.append(reason.when)

    task_retry.connect(record, weak=False)
    try:
        outcome = apply_revocation.apply(args=(item.pk,))  # eager: each retry runs at once
    finally:
        task_retry.disconnect(record)

    assert outcome.successful(), outcome.traceback
    item.refresh_from_db()
    assert (item.apply_status, item.apply_attempts) == (ApplyStatus.APPLIED, 4)
    assert len(waits) == 3
    assert all(0 <= wait <= 10 * 2**n for n, wait in enumerate(waits)), waits
