"""The sync under faults with real Celery workers: a frozen worker's run that resumes late sweeps
nothing, and a killed worker's run is seen dead within seconds so that "Sync now" starts anew."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from identities import sync
from identities.models import Assignment, SyncRun
from reviews.models import AuditEvent
from tests.factories import make_admin

from .polling import wait_for
from .test_celery_sync import mirrored

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STALE_AFTER = 2


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"SYNC_STALE_AFTER_SECONDS": str(STALE_AFTER), "SYNC_HEARTBEAT_SECONDS": "0.5"}


@pytest.fixture
def stale_after(graph_settings):
    graph_settings.SYNC_STALE_AFTER_SECONDS = STALE_AFTER
    graph_settings.SYNC_HEARTBEAT_SECONDS = 0.5
    return STALE_AFTER


def worker_run_reading(phase: str):
    def running():
        return SyncRun.objects.filter(
            status=SyncRun.Status.RUNNING, phase=phase, pages__gt=0
        ).first()

    running.__doc__ = f"the worker's run to reach {phase!r}"
    return running


def freeze_between_writes(worker, run: SyncRun) -> None:
    """SIGSTOP the worker at a moment it holds no write open on its run (a few ms per page)."""
    for _ in range(50):
        worker.send_signal(signal.SIGSTOP)
        time.sleep(0.05)
        with transaction.atomic():
            if SyncRun.objects.select_for_update(skip_locked=True).filter(pk=run.pk).exists():
                return
        worker.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("the worker was always in the middle of a write")


def test_a_frozen_slow_sync_reaped_meanwhile_resumes_sweeps_nothing_and_is_marked_lost(
    start_worker, sim, stale_after
):
    from identities.tasks import sync_tenant

    sync.sync_configured_tenant(trigger="test")
    expected = sim.tenant.expected_privileged_sp_assignments()
    sim.faults.latency = 0.15
    worker = start_worker()
    sync_tenant.delay(trigger="test")
    slow = wait_for(worker_run_reading("reading principals and owners"))

    freeze_between_writes(worker, slow)  # a paused VM, a stuck process: no heartbeat either
    try:
        later = timezone.now() + timedelta(seconds=stale_after + 0.5)
        assert sync.reap_stale_runs(now=later) == 1, "the silent run is taken for dead"
        sim.faults.latency = 0
        second = sync.sync_configured_tenant(trigger="test")
    finally:
        worker.send_signal(signal.SIGCONT)

    def finished_late():
        """the resumed run to end"""
        run = SyncRun.objects.get(pk=slow.pk)
        return run if run.error_code != "WorkerLost" else None

    late = wait_for(finished_late, timeout=30)
    assert mirrored(sim.tenant.tenant_id) == expected
    assert not Assignment.objects.filter(removed_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="identities.assignment.removed").exists()
    assert (late.status, late.error_code, late.assignments_removed) == ("lost", "LockLost", 0)
    assert second.status == SyncRun.Status.SUCCEEDED, second.error_message
    assert second.assignments_removed == 0


def test_a_killed_workers_run_is_seen_dead_in_seconds_and_sync_now_starts_a_new_run(
    start_worker, sim, stale_after
):
    from identities.tasks import sync_tenant

    admin = Client()
    admin.force_login(make_admin())
    sim.faults.latency = 0.15
    doomed_worker = start_worker()
    sync_tenant.delay(trigger="test")
    doomed = wait_for(worker_run_reading("reading active assignments"))
    doomed_worker.send_signal(signal.SIGKILL)
    doomed_worker.wait(timeout=10)
    killed_at = time.monotonic()
    start_worker()
    sim.faults.latency = 0

    def progress_says_stale():
        """the sync page to say the worker may have stopped"""
        page = admin.get(reverse("identities:sync_progress"), headers={"HX-Request": "true"})
        return "the worker may have stopped" in page.content.decode()

    wait_for(progress_says_stale, timeout=15)
    page = admin.get(reverse("identities:sync")).content.decode()
    assert "Sync now</button>" in page and "disabled>Sync now" not in page

    response = admin.post(reverse("identities:sync_start"), follow=True)
    assert "Sync queued" in response.content.decode()

    def new_run_done():
        """the new run started by Sync now to finish"""
        return SyncRun.objects.filter(pk__gt=doomed.pk).exclude(status="running").first()

    fresh = wait_for(new_run_done, timeout=60)
    assert fresh.status == SyncRun.Status.SUCCEEDED, fresh.error_message
    assert fresh.trigger == "manual"
    doomed.refresh_from_db()
    assert (doomed.status, doomed.error_code) == ("failed", "WorkerLost")
    # Seen dead and replaced within seconds of its last heartbeat (the old default: 5 minutes);
    # the margin is for a second worker still booting on a busy machine.
    assert (fresh.started_at - doomed.heartbeat_at).total_seconds() < stale_after + 20
    assert time.monotonic() - killed_at < 60
    assert mirrored(sim.tenant.tenant_id) == sim.tenant.expected_privileged_sp_assignments()
