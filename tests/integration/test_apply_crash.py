"""SIGKILL the workers mid-apply, grant some removed privileges again in Entra ID, and let the
tick and a new worker finish: the re-grants stay, every other item is removed, and Graph saw
exactly one successful removal request per item."""

from __future__ import annotations

import time

import pytest

from reviews.models import ApplyStatus, AuditEvent, Cycle, ReviewItem
from tests.reviews.apply_helpers import (
    reviewer,
    revoke_everything,
    successful_removals,
    triple,
)

from .polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STALE_AFTER = 2  # seconds: APPLY_STALE_AFTER_SECONDS of the workers
SETTLED = (
    ApplyStatus.APPLIED,
    ApplyStatus.ALREADY_GONE,
    ApplyStatus.FAILED,
    ApplyStatus.MANUAL,
    ApplyStatus.REGRANTED,
)


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {
        "GRAPH_WRITE_ENABLED": "true",
        "APPLY_STALE_AFTER_SECONDS": str(STALE_AFTER),
        "APPLY_MAX_ATTEMPTS": "8",
        "EMAIL_URL": "consolemail://",
    }


def sim_kind(item: ReviewItem) -> str:
    """How the simulator grants the item's privilege again."""
    if item.kind == "eligible":
        return "eligible"
    return "pim_active" if item.granted_via == "pim" else "active"


def grant_again(sim, item: ReviewItem) -> None:
    principal, role, scope, _kind = triple(item)
    sim.tenant.add_role_assignment(principal, role, scope, sim_kind(item))


def in_flight_at_kill(cycle: Cycle) -> list[ReviewItem]:
    """Poll closely until some removals are done and several requests are out, then return
    those: the moment to kill the workers (their requests still land in the simulator)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = ReviewItem.objects.filter(cycle=cycle)
        sent = list(items.filter(apply_status=ApplyStatus.APPLYING, removal_sent_at__isnull=False))
        if items.filter(apply_status=ApplyStatus.APPLIED).count() >= 8 and len(sent) >= 2:
            return sent
        time.sleep(0.01)
    pytest.fail("the workers never had two removals in flight after eight were done")


@pytest.mark.parametrize("sim_tenant", [(60, 3)], indirect=True)
def test_a_crash_mid_apply_removes_each_item_once_and_leaves_regrants_in_place(start_worker, sim):
    from reviews.tasks import tick

    rita = reviewer()
    cycle, items = revoke_everything(rita)  # one removal task per item, queued on commit
    assert len(items) >= 40
    sim.faults.latency = 0.3  # every Graph request takes a while: the apply takes seconds
    workers = [start_worker() for _ in range(3)]

    in_flight = in_flight_at_kill(cycle)
    for worker in workers:
        worker.kill()  # SIGKILL: no clean-up, no ack, the item stays `applying`
    for worker in workers:
        worker.wait(timeout=10)
    # A removal may have been recorded between the snapshot and the kill: it is simply done.
    stuck = ReviewItem.objects.filter(cycle=cycle, apply_status=ApplyStatus.APPLYING)
    stuck_ids = set(stuck.values_list("pk", flat=True))
    in_flight = [i for i in in_flight if i.pk in stuck_ids]
    assert in_flight, "every removal in flight finished before the kill: nothing was tested"

    def requests_landed():
        """a killed worker's removal request to have reached the tenant"""
        return [i for i in in_flight if successful_removals(sim, [i])[i.pk] == 1]

    wait_for(requests_landed, timeout=10)
    time.sleep(1.0)  # the others in flight land too (one may have died just before sending)
    landed = requests_landed()
    applied = list(ReviewItem.objects.filter(cycle=cycle, apply_status=ApplyStatus.APPLIED))
    assert {i.pk for i in in_flight} <= set(stuck.values_list("pk", flat=True))
    # Granted again in Entra ID meanwhile: one privilege whose removal was in flight (the one
    # a blind retry would remove again), and some whose removal was recorded.
    regranted_in_flight, confirmed_in_flight = landed[0], landed[1:]
    regranted_applied = applied[:3]
    for item in (regranted_in_flight, *regranted_applied):
        grant_again(sim, item)
    sim.faults.latency = 0.02

    start_worker()

    def all_settled():
        """the tick to requeue what the dead workers held and every item to settle"""
        tick.delay()
        busy = ReviewItem.objects.filter(cycle=cycle).exclude(apply_status__in=SETTLED)
        return not busy.exists() and Cycle.objects.get(pk=cycle.pk).status == "applied"

    wait_for(all_settled, timeout=120 + STALE_AFTER, interval=1.0)

    status = dict(ReviewItem.objects.filter(cycle=cycle).values_list("pk", "apply_status"))
    assert status.pop(regranted_in_flight.pk) == ApplyStatus.REGRANTED
    assert set(status.values()) == {ApplyStatus.APPLIED}
    regranted = [regranted_in_flight, *regranted_applied]
    assert sim.tenant.expected_privileged_sp_assignments() == {triple(i) for i in regranted}
    assert set(successful_removals(sim, items).values()) == {1}
    for item in confirmed_in_flight:
        assert AuditEvent.objects.filter(
            action="reviews.removal.applied",
            item_id=item.pk,
            summary__contains="confirmed after the worker stopped",
        ).exists()
    event = AuditEvent.objects.get(action="reviews.removal.regranted")
    assert event.item_id == regranted_in_flight.pk
    assert event.new["grants"] and event.new["grants"][0]["created_at"] > event.new["revoked_at"]
