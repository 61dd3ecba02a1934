"""Who may see and do what: anonymous visitors, auditors (read-only) and admins."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from identities.models import SyncRun
from tests.factories import make_principal, make_run

READ_PAGES = ["identities:inventory", "identities:inventory_export", "identities:sync"]


@pytest.fixture
def principal(tenant):
    return make_principal(tenant, "Payroll connector")


def all_page_urls(principal) -> list[str]:
    return [
        reverse("identities:inventory"),
        reverse("identities:inventory_export"),
        reverse("identities:principal", args=[principal.pk]),
        reverse("identities:sync"),
        reverse("identities:sync_progress"),
    ]


def test_anonymous_is_sent_to_login_from_every_page(anonymous, principal):
    for url in all_page_urls(principal):
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_anonymous_post_to_sync_start_is_sent_to_login(anonymous, tenant, queued_syncs):
    response = anonymous.post(reverse("identities:sync_start"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert queued_syncs == []


def test_expired_session_poll_reloads_the_page_instead_of_swapping_in_the_login_form(anonymous):
    response = anonymous.get(reverse("identities:sync_progress"), headers={"HX-Request": "true"})
    assert response.headers.get("HX-Refresh") == "true"
    assert b"<form" not in response.content


def test_login_page_renders_and_signs_in(anonymous, auditor):
    response = anonymous.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content

    response = anonymous.post(reverse("login"), {"username": "bob-auditor", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert anonymous.get(reverse("home"))["Location"] == reverse("overview")


def test_sign_out_is_a_post(as_auditor):
    assert as_auditor.get(reverse("logout")).status_code == 405
    assert as_auditor.post(reverse("logout")).status_code == 302
    assert as_auditor.get(reverse("identities:inventory")).status_code == 302


def test_auditor_can_read_every_page(as_auditor, principal):
    for url in all_page_urls(principal):
        if url == reverse("identities:sync_progress"):
            continue  # a plain GET of the fragment goes back to the sync page
        assert as_auditor.get(url).status_code == 200, url


def test_auditor_cannot_start_a_sync(
    as_auditor, tenant, queued_syncs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = as_auditor.post(reverse("identities:sync_start"))
    assert response.status_code == 403
    assert callbacks == []
    assert queued_syncs == []


def test_auditor_is_not_offered_the_sync_button(as_auditor, tenant):
    response = as_auditor.get(reverse("identities:sync"))
    assert reverse("identities:sync_start").encode() not in response.content
    assert b"Only admins can start a sync" in response.content


def test_admin_is_offered_the_sync_button(as_admin, tenant):
    response = as_admin.get(reverse("identities:sync"))
    assert reverse("identities:sync_start").encode() in response.content


def test_sync_start_refuses_get(as_admin, tenant, queued_syncs):
    assert as_admin.get(reverse("identities:sync_start")).status_code == 405
    assert queued_syncs == []


def test_admin_queues_exactly_one_sync(
    as_admin, admin, tenant, queued_syncs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(reverse("identities:sync_start"), follow=True)
    assert queued_syncs == [{"trigger": "manual", "requested_by_id": admin.pk}]
    assert response.redirect_chain == [(reverse("identities:sync"), 302)]
    assert b"Sync queued" in response.content


def test_admin_queues_a_sync_before_the_tenant_was_ever_seen(
    as_admin, queued_syncs, django_capture_on_commit_callbacks
):
    # No Tenant row yet: the first sync creates it.
    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(reverse("identities:sync_start"))
    assert response.status_code == 302
    assert len(queued_syncs) == 1


def test_admin_cannot_queue_a_second_sync_while_one_runs(
    as_admin, tenant, queued_syncs, django_capture_on_commit_callbacks
):
    make_run(tenant, status=SyncRun.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(reverse("identities:sync_start"), follow=True)
    assert queued_syncs == []
    assert b"A sync is already running" in response.content
    assert b"Sync queued" not in response.content


def test_sync_start_needs_a_configured_tenant(
    as_admin, settings, queued_syncs, django_capture_on_commit_callbacks
):
    settings.AZURE_TENANT_ID = ""
    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(reverse("identities:sync_start"), follow=True)
    assert queued_syncs == []
    assert b"AZURE_TENANT_ID" in response.content


def test_sync_start_is_csrf_protected(
    admin, tenant, queued_syncs, django_capture_on_commit_callbacks
):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("identities:sync_start"))
    assert response.status_code == 403
    assert queued_syncs == []


def test_principal_of_another_tenant_is_not_found(as_admin, tenant, other_tenant):
    foreign = make_principal(other_tenant, "Fabrikam app")
    response = as_admin.get(reverse("identities:principal", args=[foreign.pk]))
    assert response.status_code == 404
