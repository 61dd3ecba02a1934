"""The sync through a real Celery worker, Redis as broker, PostgreSQL as database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from identities import sync
from identities.models import Assignment, SyncRun

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _broker_url() -> str:
    url = django_settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.fail("integration tests need CELERY_BROKER_URL=redis://… (make test sets it)")
    return url


@pytest.fixture
def broker():
    url = _broker_url()
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
                f"--hostname=test{len(workers)}@%h",
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


def wait_for(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate.__doc__ or predicate}")


def mirrored(tenant_id: str) -> set[tuple[str, str, str, str]]:
    return set(
        Assignment.objects.current()
        .filter(tenant__tenant_id=tenant_id)
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

    graph_settings.SYNC_STALE_AFTER_SECONDS = 1
    time.sleep(1.5)
    assert sync.reap_stale_runs() == 1
    doomed.refresh_from_db()
    assert doomed.status == SyncRun.Status.FAILED
    assert doomed.error_code == "WorkerLost"
    assert mirrored(sim.tenant.tenant_id) == before

    sim.faults.latency = 0
    again = sync.sync_configured_tenant(trigger="test")
    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.assignments_removed == 1
