"""The sync page after faults: a dead run does not block "Sync now", a lost run and a held sweep
say what happened."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from identities.models import SyncRun
from tests.factories import make_run

SYNC = reverse("identities:sync")
PROGRESS = reverse("identities:sync_progress")
HTMX = {"HX-Request": "true"}


def dead_run(tenant, settings) -> SyncRun:
    settings.SYNC_STALE_AFTER_SECONDS = 30
    silent_since = timezone.now() - timedelta(minutes=2)
    return make_run(
        tenant, status=SyncRun.Status.RUNNING, started_at=silent_since, heartbeat_at=silent_since
    )


def test_a_dead_run_leaves_sync_now_enabled_for_admins_only(as_admin, as_auditor, tenant, settings):
    dead_run(tenant, settings)

    page = as_admin.get(SYNC).content.decode()
    progress = as_admin.get(PROGRESS, headers=HTMX).content.decode()
    assert "disabled>Sync now" not in page
    assert f'action="{reverse("identities:sync_start")}"' in progress
    assert "Sync now starts a new run at once" in progress
    assert "sync_start" not in as_auditor.get(PROGRESS, headers=HTMX).content.decode()
    assert "Sync now starts" not in as_auditor.get(PROGRESS, headers=HTMX).content.decode()


def test_a_live_run_keeps_sync_now_disabled(as_admin, tenant):
    make_run(tenant, status=SyncRun.Status.RUNNING, heartbeat_at=timezone.now())
    assert "disabled>Sync now" in as_admin.get(SYNC).content.decode()


def test_sync_now_after_a_dead_run_fails_it_and_queues_a_new_one(
    as_admin, tenant, settings, queued_syncs, django_capture_on_commit_callbacks
):
    dead = dead_run(tenant, settings)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(reverse("identities:sync_start"), follow=True)

    dead.refresh_from_db()
    assert (dead.status, dead.error_code) == ("failed", "WorkerLost")
    assert "Sync queued" in response.content.decode()
    assert "already running" not in response.content.decode()
    assert len(queued_syncs) == 1


def test_a_lost_run_says_it_was_taken_for_dead_and_swept_nothing(as_auditor, tenant):
    make_run(
        tenant,
        status=SyncRun.Status.LOST,
        error_code="LockLost",
        error_message="This run was taken for dead … swept nothing",
    )

    content = as_auditor.get(PROGRESS, headers=HTMX).content.decode()

    assert '<span class="badge badge-warning">lost</span>' in content
    assert "LockLost" in content and "swept nothing" in content


def test_a_held_sweep_is_shown_with_its_counts(as_auditor, tenant):
    make_run(tenant, sweep_held=19298, sweep_base=19300, assignments_seen=2)

    content = as_auditor.get(SYNC).content.decode()

    assert (
        "19298 assignments (100 %) no longer listed: held until a second complete read confirms"
        in content
    )
