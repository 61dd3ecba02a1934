"""Close and apply through two real Celery workers (Redis broker, PostgreSQL), every task twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from reviews.models import ApplyStatus, Cycle, ReviewItem
from tests.reviews.apply_helpers import (
    removal_requests,
    reviewer,
    revoke_everything,
    split_by_mechanism,
    triple,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SETTLED = (ApplyStatus.APPLIED, ApplyStatus.ALREADY_GONE, ApplyStatus.FAILED, ApplyStatus.MANUAL)


@pytest.fixture
def broker():
    url = django_settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.fail("integration tests need CELERY_BROKER_URL=redis://… (make test sets it)")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def start_worker(broker, sim, graph_settings, tmp_path):
    """Start real `celery worker` processes wired to the test database and the simulator."""
    workers: list[subprocess.Popen] = []
    db = connection.settings_dict
    env = {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "GRAPH_MAX_BACKOFF_SECONDS": "0.2",
        "GRAPH_MAX_ATTEMPTS": "6",
        "GRAPH_WRITE_ENABLED": "true",
        "APPLY_MAX_ATTEMPTS": "8",
        "EMAIL_URL": "consolemail://",
        "SPREVIEW_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(workers)}.log", "w")  # noqa: SIM115
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=apply{len(workers)}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=10)


def wait_for(predicate, timeout=120.0, interval=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate.__doc__ or predicate}")


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

    wait_for(eligible_requeued)
    sim.faults.clear()

    def all_settled():
        """every item settled and the cycle applied"""
        busy = ReviewItem.objects.filter(cycle=cycle).exclude(apply_status__in=SETTLED)
        return not busy.exists() and Cycle.objects.get(pk=cycle.pk).status == "applied"

    wait_for(all_settled)

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
