"""Close and apply through two real Celery workers (Redis broker, PostgreSQL), every task twice."""

from __future__ import annotations

import pytest

from reviews.models import ApplyStatus, Cycle, ReviewItem
from tests.reviews.apply_helpers import (
    removal_requests,
    reviewer,
    revoke_everything,
    split_by_mechanism,
    triple,
)

from .polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SETTLED = (ApplyStatus.APPLIED, ApplyStatus.ALREADY_GONE, ApplyStatus.FAILED, ApplyStatus.MANUAL)


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Writes to Graph enabled, with room for the retries the faults below cause."""
    return {
        "GRAPH_MAX_ATTEMPTS": "6",
        "GRAPH_WRITE_ENABLED": "true",
        "APPLY_MAX_ATTEMPTS": "8",
        "EMAIL_URL": "consolemail://",
    }


def test_two_workers_apply_every_revocation_once_despite_duplicate_deliveries(start_worker, sim):
    from reviews.tasks import apply_revocation

    rita = reviewer()
    cycle, items = revoke_everything(rita)  # request_apply queued one task per item on commit
    groups = split_by_mechanism(items)
    assert all(groups.values())
    # Throttling that the workers' Graph client absorbs, and an outage of the eligibility
    # endpoint that outlasts its attempts: those items go back to the queue and their tasks
    # retry later through Celery.
    sim.faults.throttle(times=5, retry_after=0.1, path_contains="roleAssignments/")
    sim.faults.forbid(
        "roleEligibilityScheduleRequests", status=503, code="ServiceUnavailable", message="Down."
    )
    for item in items:
        apply_revocation.delay(item.pk)  # the duplicate delivery

    start_worker()
    start_worker()

    def eligible_requeued():
        """every eligible item to have failed once and be queued again"""
        rows = ReviewItem.objects.filter(pk__in=[i.pk for i in groups["eligible"]])
        return all(
            r.apply_error_code == "ServiceUnavailable" and r.apply_attempts >= 1 for r in rows
        )

    wait_for(eligible_requeued, timeout=120)
    sim.faults.clear()

    def all_settled():
        """every item settled and the cycle applied"""
        busy = ReviewItem.objects.filter(cycle=cycle).exclude(apply_status__in=SETTLED)
        return not busy.exists() and Cycle.objects.get(pk=cycle.pk).status == "applied"

    wait_for(all_settled, timeout=120)

    statuses = dict(ReviewItem.objects.filter(cycle=cycle).values_list("pk", "apply_status"))
    assert set(statuses.values()) == {ApplyStatus.APPLIED}
    assert len(statuses) == len(items)
    assert sim.tenant.expected_privileged_sp_assignments() == set()
    assert not {triple(i) for i in items} & sim.tenant.expected_privileged_sp_assignments()
    reached = removal_requests(sim, reached_tenant=True)
    assert len(reached) == len(items), [(r.method, r.path, r.status) for r in reached]
    assert {r.status for r in reached} == {201, 204}
    assert {r.status for r in removal_requests(sim)} >= {429, 503}
    retried = ReviewItem.objects.filter(cycle=cycle, apply_attempts__gt=1)
    assert set(retried.values_list("pk", flat=True)) == {i.pk for i in groups["eligible"]}
