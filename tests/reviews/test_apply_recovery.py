"""A removal retried after its worker died, or after an error that may have hidden a success,
reads Entra ID first: one successful removal request per item, and a privilege granted again
after the decision is left in place, flagged and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from entrasim.tenant import iso
from reviews import services
from reviews.models import NEEDS_ATTENTION, ApplyStatus, AuditEvent, Campaign, ReviewItem
from tests.factories import login, make_admin

from . import apply_helpers
from .apply_helpers import (
    closed_and_queued,
    graph_inspector,
    graph_remover,
    open_cycle,
    removal_requests,
    reviewer,
    revoke_everything,
    split_by_mechanism,
    successful_removals,
    sync_tenant,
    triple,
)

pytestmark = pytest.mark.django_db

no_broker = apply_helpers.no_broker

MECHANISMS = ("direct", "pim_active", "eligible")
# How the simulator grants each mechanism again.
SIM_KIND = {"direct": "active", "pim_active": "pim_active", "eligible": "eligible"}


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it in the worker runs, no handler catches it."""


def dies_after_sending(privilege, justification):
    graph_remover()(privilege, justification)
    raise WorkerKilled


def dies_before_sending(privilege, justification):
    raise WorkerKilled


def killed_then_requeued(item: ReviewItem, remover, settings) -> None:
    """The first attempt's worker dies inside `remove`; the tick later puts the item back."""
    with pytest.raises(WorkerKilled):
        services.apply_item(item.pk, remover)
    later = timezone.now() + timedelta(seconds=settings.APPLY_STALE_AFTER_SECONDS + 1)
    assert services.requeue_stalled(later) == [item.pk]


def retry(item: ReviewItem) -> str | None:
    """The next attempt, as `reviews.tasks.apply_revocation` runs it."""
    return services.apply_item(item.pk, graph_remover(), inspect=graph_inspector())


def grant_again(sim, item: ReviewItem, mechanism: str) -> str:
    principal, role, scope, _kind = triple(item)
    return sim.tenant.add_role_assignment(principal, role, scope, SIM_KIND[mechanism])


def item_of(mechanism: str) -> ReviewItem:
    _cycle, items = revoke_everything(reviewer())
    return split_by_mechanism(items)[mechanism][0]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_it_confirms_a_removal_that_landed_before_the_worker_died_without_sending_again(
    graph_settings, sim, no_broker, mechanism
):
    item = item_of(mechanism)
    killed_then_requeued(item, dies_after_sending, graph_settings)
    assert triple(item) not in sim.tenant.expected_privileged_sp_assignments()

    result = retry(item)

    item.refresh_from_db()
    assert (result, item.apply_status, item.apply_attempts) == (
        services.APPLIED,
        ApplyStatus.APPLIED,
        2,
    )
    assert item.removal_sent_at is not None and item.applied_at is not None
    assert len(removal_requests(sim)) == 1
    assert successful_removals(sim, [item]) == {item.pk: 1}
    event = AuditEvent.objects.get(action="reviews.removal.applied", item_id=item.pk)
    assert "confirmed after the worker stopped" in event.summary
    assert event.new["confirmed_on_retry"] is True


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_it_sends_exactly_one_removal_when_the_worker_died_before_sending(
    graph_settings, sim, no_broker, mechanism
):
    item = item_of(mechanism)
    killed_then_requeued(item, dies_before_sending, graph_settings)

    result = retry(item)

    item.refresh_from_db()
    assert (result, item.apply_status) == (services.APPLIED, ApplyStatus.APPLIED)
    assert triple(item) not in sim.tenant.expected_privileged_sp_assignments()
    assert successful_removals(sim, [item]) == {item.pk: 1}
    assert len(removal_requests(sim)) == 1


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_privilege_granted_again_after_the_decision_is_left_in_place_flagged_and_audited(
    graph_settings, sim, no_broker, mechanism
):
    item = item_of(mechanism)
    killed_then_requeued(item, dies_after_sending, graph_settings)
    new_id = grant_again(sim, item, mechanism)
    if mechanism == "direct":  # Entra derives the id from role, principal and scope
        assert new_id == item.role_assignment_id
    else:
        assert new_id != item.schedule_id and item.schedule_id

    result = retry(item)

    item.refresh_from_db()
    assert (result, item.apply_status) == (services.REGRANTED, ApplyStatus.REGRANTED)
    assert ApplyStatus.REGRANTED not in NEEDS_ATTENTION
    assert triple(item) in sim.tenant.expected_privileged_sp_assignments()
    assert successful_removals(sim, [item]) == {item.pk: 1}  # the first, before the re-grant
    assert len(removal_requests(sim)) == 1
    assert item.applied_at is None
    assert item.apply_error.startswith("Granted again in Entra ID on ")
    event = AuditEvent.objects.get(action="reviews.removal.regranted", item_id=item.pk)
    [grant] = event.new["grants"]
    assert grant["created_at"] >= event.new["revoked_at"]
    assert grant["assignment_id" if mechanism == "direct" else "schedule_id"] == new_id


def test_a_reviewers_revocation_counts_from_their_decision_not_from_the_close(
    graph_settings, sim, no_broker
):
    rita = reviewer()
    sync_tenant()
    cycle = open_cycle(rita, default_decision=Campaign.Default.KEEP)
    item = split_by_mechanism(cycle.items.all())["direct"][0]
    decided = timezone.now() - timedelta(hours=2)
    services.record_decision(item.pk, "revoke", "", actor=rita, now=decided)
    assert [i.pk for i in closed_and_queued(cycle, rita)] == [item.pk]
    killed_then_requeued(item, dies_after_sending, graph_settings)
    grant_again(sim, item, "direct")
    # Granted again an hour after the reviewer's decision, before the review closed.
    regrant = sim.tenant.role_assignments.get(item.role_assignment_id)
    regrant.created_date_time = iso(decided + timedelta(hours=1))

    assert retry(item) == services.REGRANTED

    assert triple(item) in sim.tenant.expected_privileged_sp_assignments()
    event = AuditEvent.objects.get(action="reviews.removal.regranted", item_id=item.pk)
    assert event.new["revoked_at"] == decided.replace(microsecond=0).isoformat()


def test_without_a_creation_time_a_grant_listed_again_becomes_a_to_do_not_a_removal(
    graph_settings, sim, no_broker
):
    item = item_of("direct")
    killed_then_requeued(item, dies_after_sending, graph_settings)
    grant_again(sim, item, "direct")
    sim.tenant.role_assignments.get(item.role_assignment_id).created_date_time = None

    result = retry(item)

    item.refresh_from_db()
    assert result == services.TODO
    assert (item.apply_status, item.apply_error_code) == (ApplyStatus.MANUAL, "RegrantUnclear")
    assert "check in Entra ID" in item.apply_error
    assert triple(item) in sim.tenant.expected_privileged_sp_assignments()
    assert len(removal_requests(sim)) == 1
    event = AuditEvent.objects.get(action="reviews.removal.todo", item_id=item.pk)
    assert event.new["grants"][0]["created_at"] is None


def test_a_retry_after_an_unavailable_graph_reads_first_and_sends_once(graph_settings, sim):
    graph_settings.GRAPH_MAX_ATTEMPTS = 1
    item = item_of("pim_active")
    sim.faults.unavailable(times=1, status=503, path_contains="ScheduleRequests")

    first = services.apply_item(item.pk, graph_remover(), inspect=graph_inspector())
    second = retry(item)

    assert (first, second) == (services.RETRY, services.APPLIED)
    assert [r.status for r in removal_requests(sim)] == [503, 201]
    instance_reads = [r for r in sim.requests if "roleAssignmentScheduleInstances" in r.path]
    assert len(instance_reads) == 1


def test_the_cycle_and_results_pages_and_the_csv_flag_a_regrant(graph_settings, sim, no_broker):
    item = item_of("eligible")
    killed_then_requeued(item, dies_after_sending, graph_settings)
    grant_again(sim, item, "eligible")
    retry(item)
    admin = login(make_admin())

    cycle_page = admin.get(reverse("reviews:cycle_detail", args=[item.cycle_id]))
    results_page = admin.get(reverse("reviews:results", args=[item.cycle_id]))
    export = admin.get(reverse("reviews:results_csv", args=[item.cycle_id]))

    assert cycle_page.context["counts"]["regranted"] == 1
    assert "Re-granted during apply" in cycle_page.content.decode()
    assert "Re-granted during apply — left in place" in results_page.content.decode()
    rows = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "Re-granted during apply — left in place (Granted again in Entra ID on " in rows
