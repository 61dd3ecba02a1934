"""Cycle progress and admin actions, results with their CSV evidence, and the audit log."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import EntraAccount
from reviews import emails, services
from reviews.export import AUDIT_HEADER, RESULTS_HEADER
from reviews.models import ApplyStatus, AuditEvent, Cycle, Decision, EmailDelivery, ReviewItem
from reviews.services.common import SEND_REMINDERS
from tests.factories import (
    HOSTILE,
    login,
    make_admin,
    make_assignment,
    make_auditor,
    make_campaign,
    make_cycle_of,
    make_owned_principal,
    make_owner_reviewer,
    make_role,
    make_tenant,
    messages_of,
    snapshot,
    start_cycle,
)

from .queued import run_queued


@pytest.fixture
def admin(world):
    return login(world.admin)


def cycle_url(world, name: str) -> str:
    return reverse(f"reviews:{name}", args=[world.cycle.pk])


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# --- cycle detail and actions ----------------------------------------------------------------


def test_cycle_detail_shows_progress_per_reviewer(world):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    response = login(world.auditor).get(cycle_url(world, "cycle_detail"))
    assert response.context["counts"]["total"] == 4
    assert response.context["counts"]["decided"] == 1
    assert response.context["counts"]["pending"] == 3
    rows = {row["person"].username: row for row in response.context["per_reviewer"]}
    assert rows["anna-reviewer"]["total"] == 2
    assert rows["anna-reviewer"]["decided"] == 1
    assert rows["anna-reviewer"]["by_them"] == 1
    assert rows["ben-reviewer"]["pending"] == 2
    content = response.content.decode()
    assert "1 / 4" in content
    # Each reviewer by Entra display name, with the UPN under it; a different mailbox is named.
    assert 'Anna-Reviewer<br><span class="muted">anna-reviewer@contoso.example</span>' in content
    assert "mail: " not in content
    EntraAccount.objects.filter(user=world.reviewer_b).update(
        user_principal_name="ben@contoso.onmicrosoft.com"
    )
    content = login(world.auditor).get(cycle_url(world, "cycle_detail")).content.decode()
    assert "ben@contoso.onmicrosoft.com</span>" in content
    assert "mail: ben-reviewer@contoso.example" in content


def test_cycle_detail_says_who_was_invited_and_reminded(world, settings):
    settings.SITE_URL = "https://spreview.contoso.example"
    auditor = login(world.auditor)

    def emails_cells() -> list[str]:
        content = auditor.get(cycle_url(world, "cycle_detail")).content.decode()
        return [
            " ".join(cell.split())
            for cell in re.findall(r'class="emails-cell">(.*?)</td>', content, re.S)
        ]

    # Nothing delivered yet (the invitation task has not run, or the mail server refused).
    assert emails_cells() == ['<span class="badge badge-warning">not invited yet</span>'] * 2

    emails.send_invitations(world.cycle.pk)
    emails.send_reminder_round(world.cycle.pk, emails.ADMIN_ROUNDS_FROM, actor_id=world.admin.pk)
    cells = emails_cells()
    assert len(cells) == 2 and all(c.startswith("invited <time") for c in cells)
    assert all("reminded <time" in c for c in cells)
    EmailDelivery.objects.filter(
        recipient=world.reviewer_b, kind=EmailDelivery.Kind.INVITATION
    ).delete()
    assert sum("not invited yet" in c for c in emails_cells()) == 1


def test_admin_stops_a_cycle_and_undecided_items_take_the_default(world, admin):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    response = admin.post(cycle_url(world, "cycle_stop"), follow=True)
    assert "Review stopped: undecided items took the default." in messages_of(response)
    world.cycle.refresh_from_db()
    assert world.cycle.status == Cycle.Status.STOPPED
    assert world.cycle.closed_by == world.admin
    outcomes = dict(ReviewItem.objects.filter(cycle=world.cycle).values_list("pk", "outcome"))
    assert outcomes[world.items["payroll"].pk] == "revoke"
    assert outcomes[world.items["crm"].pk] == "keep"
    # A second click (say, from another tab) is refused with a message, not an error.
    before = snapshot()
    response = admin.post(cycle_url(world, "cycle_stop"), follow=True)
    assert "This review is not running." in messages_of(response)
    assert snapshot() == before


def test_admin_resets_every_decision(world, admin):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    services.record_decision(world.items["crm"].pk, "dont_know", "", actor=world.reviewer_b)
    response = admin.post(cycle_url(world, "cycle_reset"), follow=True)
    assert "2 decisions reset to pending." in messages_of(response)
    assert not ReviewItem.objects.filter(cycle=world.cycle).exclude(decision=Decision.PENDING)
    assert AuditEvent.objects.filter(action="reviews.decision.reset").count() == 2


def test_reset_after_the_end_is_refused(world, admin):
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    before = snapshot()
    response = admin.post(cycle_url(world, "cycle_reset"), follow=True)
    assert any("This review has ended" in m for m in messages_of(response))
    assert snapshot() == before


def test_admin_sends_reminders_to_reviewers_with_pending_items(world, admin, mailoutbox):
    services.accept_recommendations(world.cycle.pk, actor=world.reviewer_a)
    response = admin.post(cycle_url(world, "cycle_remind"), follow=True)
    assert "Reminders are being sent to 1 reviewer with pending items." in messages_of(response)
    assert mailoutbox == []  # a worker sends them, not the request
    assert run_queued(SEND_REMINDERS) == 1
    assert [m.to for m in mailoutbox] == [["ben-reviewer@contoso.example"]]
    event = AuditEvent.objects.get(action="reviews.email.reminders")
    assert event.actor == world.admin


def test_reminders_when_nobody_has_pending_items_queue_nothing(world, admin, mailoutbox):
    services.accept_recommendations(world.cycle.pk, actor=world.reviewer_a)
    services.accept_recommendations(world.cycle.pk, actor=world.reviewer_b)
    response = admin.post(cycle_url(world, "cycle_remind"), follow=True)
    assert "No reviewer has pending items: there is nobody to remind." in messages_of(response)
    assert run_queued(SEND_REMINDERS) == 0
    assert mailoutbox == []


def test_reminders_for_an_ended_cycle_are_refused(world, admin, mailoutbox):
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    before = snapshot()
    response = admin.post(cycle_url(world, "cycle_remind"), follow=True)
    assert "This review is not running: there is nobody to remind." in messages_of(response)
    assert mailoutbox == []
    assert snapshot() == before


def test_admin_applies_the_results_of_a_closed_cycle(
    world, admin, django_capture_on_commit_callbacks
):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    page = admin.get(cycle_url(world, "cycle_detail")).content.decode()
    assert "Apply results (1 removal)" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin.post(cycle_url(world, "cycle_apply"), follow=True)
    assert "1 removal queued." in messages_of(response)
    assert len(callbacks) == 1  # the removal task is sent once the transaction commits
    item = world.items["payroll"]
    item.refresh_from_db()
    assert item.apply_status == ApplyStatus.QUEUED
    world.cycle.refresh_from_db()
    assert world.cycle.status == Cycle.Status.APPLYING


def test_applying_a_running_cycle_is_refused(world, admin):
    before = snapshot()
    response = admin.post(cycle_url(world, "cycle_apply"), follow=True)
    assert "Close the review before applying its results." in messages_of(response)
    assert snapshot() == before


def test_admin_retries_failed_removals(world, admin, django_capture_on_commit_callbacks):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    ReviewItem.objects.filter(pk=world.items["payroll"].pk).update(
        apply_status=ApplyStatus.FAILED, apply_error_code="Forbidden", apply_error="nope"
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin.post(cycle_url(world, "cycle_retry"), follow=True)
    assert "1 failed removal queued again." in messages_of(response)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin.post(cycle_url(world, "cycle_retry"), follow=True)
    assert "No removal has failed: nothing to retry." in messages_of(response)
    assert callbacks == []


# --- results ---------------------------------------------------------------------------------


def _closed_with_a_failure(world):
    services.record_decision(
        world.items["payroll"].pk, "approve", "Needed nightly", actor=world.reviewer_a
    )
    services.record_decision(world.items["backup"].pk, "revoke", "", actor=world.reviewer_a)
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    ReviewItem.objects.filter(pk=world.items["backup"].pk).update(
        apply_status=ApplyStatus.FAILED,
        apply_error_code="Request_ResourceNotFound",
        apply_error="Resource does not exist",
        apply_attempts=5,
    )


def test_results_page_shows_decisions_outcomes_and_apply_errors(world):
    _closed_with_a_failure(world)
    content = login(world.auditor).get(cycle_url(world, "results")).content.decode()
    assert "Payroll connector" in content
    assert world.items["payroll"].principal_app_id in content
    assert "Needed nightly" in content
    assert "anna-reviewer@contoso.example" in content
    assert "Request_ResourceNotFound" in content
    assert "Resource does not exist" in content
    assert "by default" in content  # CRM sync was never decided
    assert reverse("reviews:results_csv", args=[world.cycle.pk]) in content


def test_results_csv_has_the_auditor_columns(world):
    _closed_with_a_failure(world)
    response = login(world.auditor).get(cycle_url(world, "results_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert tuple(rows[0]) == RESULTS_HEADER
    assert rows[0] == [
        "principal",
        "appId",
        "type",
        "role",
        "scope",
        "kind",
        "privilege type",
        "API",
        "tier",
        "tier reason",
        "owners",
        "credentials",
        "recommendation",
        "decision",
        "justification",
        "reviewed by",
        "reviewed at",
        "outcome",
        "applied at",
        "apply result",
    ]
    by_name = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:-1]}
    assert set(by_name) == {"Backup agent", "CRM sync", "Orphan app", "Payroll connector"}
    assert rows[-1][0] == "audit chain head"  # see tests/reviews/test_audit_chain.py
    payroll = by_name["Payroll connector"]
    assert payroll["decision"] == "Approve"
    assert payroll["justification"] == "Needed nightly"
    assert payroll["reviewed by"] == "anna-reviewer@contoso.example"
    assert payroll["outcome"] == "Keep"
    assert payroll["scope"] == "Tenant"
    assert payroll["apply result"] == "Nothing to apply"
    backup = by_name["Backup agent"]
    assert backup["recommendation"] == "Revoke"
    assert backup["outcome"] == "Revoke"
    assert backup["apply result"] == ("Failed (Request_ResourceNotFound: Resource does not exist)")
    assert by_name["CRM sync"]["decision"] == "Pending"
    assert by_name["CRM sync"]["reviewed by"] == ""


def _hostile_cycle():
    tenant = make_tenant()
    admin = make_admin()
    reviewer = make_owner_reviewer(tenant, "hal-reviewer")
    role = make_role(tenant, "Global Administrator")
    make_assignment(make_owned_principal(tenant, HOSTILE, owners=[reviewer], app_id=HOSTILE), role)
    make_assignment(
        make_owned_principal(tenant, '=HYPERLINK("http://evil.example")', owners=[reviewer]), role
    )
    cycle = start_cycle(make_campaign(tenant, admin, name=f"Campaign {HOSTILE}"))
    item = ReviewItem.objects.get(cycle=cycle, principal_name=HOSTILE)
    services.record_decision(item.pk, "revoke", f"@SUM(1) {HOSTILE}", actor=reviewer)
    return admin, cycle


def test_results_and_cycle_pages_escape_hostile_names(db):
    admin, cycle = _hostile_cycle()
    client = login(admin)
    for name in ("results", "cycle_detail"):
        content = client.get(reverse(f"reviews:{name}", args=[cycle.pk])).content.decode()
        assert HOSTILE not in content, name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content, name
    for url in (reverse("reviews:campaigns"), reverse("reviews:audit")):
        content = client.get(url).content.decode()
        assert HOSTILE not in content, url
        assert "&lt;script&gt;" in content, url


def test_results_csv_defuses_formulas(db):
    admin, cycle = _hostile_cycle()
    rows = csv_rows(login(admin).get(reverse("reviews:results_csv", args=[cycle.pk])))
    names = {row[0] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil.example")' in names
    assert HOSTILE in names  # plain text in a CSV; only a spreadsheet formula is dangerous
    justifications = {row[rows[0].index("justification")] for row in rows[1:]}
    assert f"'@SUM(1) {HOSTILE}" in justifications


def _closed_cycle_of(count: int) -> Cycle:
    admin, _reviewer, cycle = make_cycle_of(count)
    services.stop_cycle(cycle.pk, actor=admin)
    return cycle


def test_results_page_costs_the_same_number_of_queries_for_5_or_50_items(db):
    small_cycle, large_cycle = _closed_cycle_of(5), _closed_cycle_of(50)
    client = login(make_auditor())
    counts = []
    for cycle, expected in ((small_cycle, 5), (large_cycle, 50)):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("reviews:results", args=[cycle.pk]))
        assert len(response.context["items"]) == expected
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_cycle_detail_and_campaign_list_cost_the_same_for_5_or_50_items(db):
    small_cycle, large_cycle = _closed_cycle_of(5), _closed_cycle_of(50)
    client = login(make_auditor())
    counts = []
    for cycle in (small_cycle, large_cycle):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("reviews:cycle_detail", args=[cycle.pk])).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- audit log -------------------------------------------------------------------------------


def test_audit_log_lists_events_newest_first(world):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    response = login(world.auditor).get(reverse("reviews:audit"))
    events = list(response.context["events"])
    assert events[0].action == "reviews.decision.revoke"
    assert {"reviews.campaign.created", "reviews.cycle.started"} <= {e.action for e in events}
    assert "anna-reviewer@contoso.example" in response.content.decode()


def test_audit_log_filters(world):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    other = make_campaign(world.tenant, world.admin, name="Other campaign")
    client = login(world.auditor)

    def actions(**query):
        response = client.get(reverse("reviews:audit"), query)
        assert response.status_code == 200
        return [e.action for e in response.context["events"]]

    assert actions(action="reviews.decision.revoke") == ["reviews.decision.revoke"]
    assert actions(campaign=str(other.pk)) == ["reviews.campaign.created"]
    assert "reviews.campaign.created" not in actions(cycle=str(world.cycle.pk))
    assert actions(actor="anna") == ["reviews.decision.revoke"]
    today = AuditEvent.objects.latest("pk").at.date().isoformat()
    assert len(actions(since=today, until=today)) == AuditEvent.objects.count()
    assert actions(until="2000-01-01") == []


def test_audit_log_refuses_bad_filters_without_an_error_page(world):
    client = login(world.auditor)
    response = client.get(reverse("reviews:audit"), {"cycle": "abc", "since": "yesterday"})
    assert response.status_code == 200
    assert list(response.context["events"]) == []
    assert "Some filters were not understood" in response.content.decode()
    assert client.get(reverse("reviews:audit_csv"), {"cycle": "abc"}).status_code == 400
    response = client.get(reverse("reviews:audit"), {"action": "<script>"})
    assert response.status_code == 200
    assert "<script>" not in response.content.decode().split("<main", 1)[1]


def test_audit_log_is_paginated(world):
    for _ in range(30):
        services.set_campaign_paused(world.campaign.pk, True, actor=world.admin)
        services.set_campaign_paused(world.campaign.pk, False, actor=world.admin)
    client = login(world.auditor)
    first = client.get(reverse("reviews:audit"))
    assert len(first.context["events"]) == 50
    assert "page=2" in first.content.decode()
    second = client.get(reverse("reviews:audit"), {"page": "2"})
    assert len(second.context["events"]) == AuditEvent.objects.count() - 50
    assert client.get(reverse("reviews:audit"), {"page": "junk"}).status_code == 200


def test_audit_csv_follows_the_filters(world):
    services.record_decision(world.items["payroll"].pk, "revoke", "why", actor=world.reviewer_a)
    response = login(world.auditor).get(
        reverse("reviews:audit_csv"), {"action": "reviews.decision.revoke"}
    )
    rows = csv_rows(response)
    assert tuple(rows[0]) == AUDIT_HEADER
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["actor"] == "anna-reviewer@contoso.example"
    assert row["cycle id"] == str(world.cycle.pk)
    assert '"justification": "why"' in row["new"]
