"""The sync through a real Celery worker, Redis as broker, PostgreSQL as database."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from identities import sync
from identities.models import Assignment, SyncRun

from .polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def mirrored(tenant_id: str) -> set[tuple[str, str, str, str]]:
    """The mirror's current directory-role assignments (application permissions aside)."""
    return set(
        Assignment.objects.current()
        .filter(tenant__tenant_id=tenant_id, kind__in=("active", "eligible"))
        .values_list("principal__object_id", "role__object_id", "directory_scope_id", "kind")
    )


def finished_run():
    """a finished SyncRun"""
    return SyncRun.objects.exclude(status=SyncRun.Status.RUNNING).first()


def test_a_real_worker_syncs_the_tenant(start_worker, sim):
    from identities.tasks import sync_tenant

    start_worker()
    sync_tenant.delay(trigger="test")

    run = wait_for(finished_run)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert run.trigger == "test"
    assert mirrored(sim.tenant.tenant_id) == sim.tenant.expected_privileged_sp_assignments()


def test_a_worker_killed_mid_sync_sweeps_nothing_and_its_run_is_failed(
    start_worker, sim, graph_settings
):
    from identities.tasks import sync_tenant

    first = sync.sync_configured_tenant(trigger="test")
    assert first.status == SyncRun.Status.SUCCEEDED
    before = mirrored(sim.tenant.tenant_id)
    principal_id, role_id, scope, kind = sorted(sim.tenant.expected_privileged_sp_assignments())[0]
    sim.tenant.remove_assignment(principal_id, role_id, scope, kind)
    sim.faults.latency = 0.3

    worker = start_worker()
    sync_tenant.delay(trigger="test")

    def running_with_progress():
        """the worker's run to report a page"""
        return SyncRun.objects.filter(status=SyncRun.Status.RUNNING, pages__gt=0).first()

    doomed = wait_for(running_with_progress)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    doomed.refresh_from_db()
    assert doomed.status == SyncRun.Status.RUNNING
    assert mirrored(sim.tenant.tenant_id) == before

    assert sync.reap_stale_runs() == 0, "its last heartbeat is recent: not yet taken for dead"
    stale_window = timedelta(seconds=graph_settings.SYNC_STALE_AFTER_SECONDS)
    assert sync.reap_stale_runs(now=timezone.now() + stale_window + timedelta(seconds=1)) == 1
    doomed.refresh_from_db()
    assert doomed.status == SyncRun.Status.FAILED
    assert doomed.error_code == "WorkerLost"
    assert mirrored(sim.tenant.tenant_id) == before

    sim.faults.latency = 0
    again = sync.sync_configured_tenant(trigger="test")
    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.assignments_removed == 1
