"""The sync page: run history, live progress over htmx, and the queued-but-not-started gap."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from identities.models import SyncRun
from tests.factories import make_run

SYNC = reverse("identities:sync")
PROGRESS = reverse("identities:sync_progress")
HTMX = {"HX-Request": "true"}


def test_it_lists_runs_with_their_counts(as_auditor, tenant, admin):
    make_run(
        tenant,
        trigger="manual",
        requested_by=admin,
        pages=7,
        assignments_seen=321,
        assignments_created=4,
        assignments_updated=5,
        assignments_removed=6,
        principals_seen=88,
        sign_in_activity="read",
        notes="sign-in activity read for 88 principals",
    )

    content = as_auditor.get(SYNC).content.decode()

    for text in (
        "manual",
        "ada-admin",
        "succeeded",
        "321",
        "88",
        "read",
        "sign-in activity read for 88 principals",
    ):
        assert text in content, text


def test_it_shows_a_failed_runs_error_code_message_and_request_id(as_auditor, tenant):
    make_run(
        tenant,
        status=SyncRun.Status.FAILED,
        error_code="Authorization_RequestDenied",
        error_message="Insufficient privileges to complete the operation.",
        request_id="5f6c0e2a-req-id",
    )

    content = as_auditor.get(SYNC).content.decode()

    assert "Authorization_RequestDenied" in content
    assert "Insufficient privileges to complete the operation." in content
    assert "5f6c0e2a-req-id" in content
    history = as_auditor.get(SYNC).context["table"]
    assert history.rows[0].get_cell("status") == '<span class="badge badge-danger">failed</span>'


def test_runs_of_another_tenant_are_not_listed(as_auditor, tenant, other_tenant):
    make_run(other_tenant, notes="fabrikam run")
    assert b"fabrikam run" not in as_auditor.get(SYNC).content


def test_runs_are_paginated(as_auditor, tenant):
    start = timezone.now() - timedelta(days=1)
    for n in range(30):
        make_run(tenant, started_at=start + timedelta(minutes=n))
    response = as_auditor.get(SYNC)
    assert len(response.context["table"].page.object_list) == 25
    assert b"page=2" in response.content


def test_the_page_with_a_running_sync_polls_its_progress(as_auditor, tenant):
    make_run(tenant, status=SyncRun.Status.RUNNING, phase="assignments", pages=3)

    content = as_auditor.get(SYNC).content.decode()

    assert 'hx-trigger="every 2s"' in content
    assert f'hx-get="{PROGRESS}"' in content
    assert "vendor/htmx.min.js" in content


def test_progress_is_a_fragment_that_polls_while_running(as_auditor, tenant):
    make_run(
        tenant, status=SyncRun.Status.RUNNING, phase="principals", pages=12, assignments_seen=1200
    )

    response = as_auditor.get(PROGRESS, headers=HTMX)

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith("<section")
    assert "<html" not in content and "<body" not in content
    assert 'id="sync-progress"' in content
    assert 'hx-trigger="every 2s"' in content
    assert "principals" in content
    assert "1200" in content
    assert "HX-Refresh" not in response.headers


def test_progress_stops_polling_once_the_run_finished(as_auditor, tenant):
    make_run(tenant, status=SyncRun.Status.SUCCEEDED, assignments_seen=42)

    response = as_auditor.get(PROGRESS, headers=HTMX)

    content = response.content.decode()
    assert 'id="sync-progress"' in content
    assert "hx-get" not in content and "hx-trigger" not in content
    assert "succeeded" in content
    # The page reloads once so the history table shows the finished run.
    assert response.headers["HX-Refresh"] == "true"


def test_the_page_without_a_running_sync_does_not_poll(as_auditor, tenant):
    make_run(tenant, status=SyncRun.Status.FAILED, error_code="boom")
    content = as_auditor.get(SYNC).content.decode()
    assert "hx-trigger" not in content


def test_progress_without_htmx_goes_to_the_sync_page(as_auditor, tenant):
    response = as_auditor.get(PROGRESS)
    assert response.status_code == 302
    assert response["Location"] == SYNC


def test_progress_warns_when_the_heartbeat_is_stale(as_auditor, tenant, settings):
    settings.SYNC_STALE_AFTER_SECONDS = 60
    old = timezone.now() - timedelta(minutes=10)
    make_run(tenant, status=SyncRun.Status.RUNNING, started_at=old, heartbeat_at=old)
    content = as_auditor.get(PROGRESS, headers=HTMX).content.decode()
    assert "the worker may have stopped" in content


def test_after_sync_now_the_page_polls_until_the_worker_starts_the_run(
    as_admin, tenant, queued_syncs, django_capture_on_commit_callbacks
):
    make_run(tenant, status=SyncRun.Status.SUCCEEDED)
    with django_capture_on_commit_callbacks(execute=True):
        as_admin.post(reverse("identities:sync_start"))

    waiting = as_admin.get(PROGRESS, headers=HTMX)
    assert "Waiting for a worker" in waiting.content.decode()
    assert 'hx-trigger="every 2s"' in waiting.content.decode()

    make_run(tenant, status=SyncRun.Status.RUNNING, phase="roles")
    running = as_admin.get(PROGRESS, headers=HTMX)
    assert "Sync in progress" in running.content.decode()

    SyncRun.objects.filter(status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    done = as_admin.get(PROGRESS, headers=HTMX)
    assert "hx-trigger" not in done.content.decode()


def test_a_queued_sync_that_never_starts_stops_polling_with_a_hint(
    as_admin, tenant, queued_syncs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        as_admin.post(reverse("identities:sync_start"))
    session = as_admin.session
    queued = session["identities.sync_queued"]
    queued["at"] = (timezone.now() - timedelta(minutes=10)).isoformat()
    session["identities.sync_queued"] = queued
    session.save()

    content = as_admin.get(PROGRESS, headers=HTMX).content.decode()

    assert "hx-trigger" not in content
    assert "no worker has started it" in content


def test_empty_sync_page(as_auditor, db):
    content = as_auditor.get(SYNC).content.decode()
    assert "No sync has run yet" in content
