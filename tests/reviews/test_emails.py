"""Invitations, reminders, completion and failure notices: content, schedule, exactly-once."""

from __future__ import annotations

import smtplib
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection

from identities.graph.errors import GraphError
from reviews import emails, services
from reviews.models import AuditEvent, Cycle, EmailDelivery
from reviews.services.common import SEND_REMINDERS
from tests.factories import HOSTILE_APP, HOSTILE_PERSON, NOW

from .queued import run_queued

SITE = "https://spreview.contoso.example"
ENDS = "16 March 2026, 09:00 UTC"  # NOW + 14 days
FIRST_REMINDER = NOW + timedelta(days=7)  # 9 March: 7 days before the end
SECOND_REMINDER = NOW + timedelta(days=11)  # 13 March: 3 days before the end


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE
    settings.DEFAULT_FROM_EMAIL = "spreview <spreview@contoso.example>"


def only(to: str) -> EmailMultiAlternatives:
    found = [m for m in mail.outbox if m.to == [to]]
    assert len(found) == 1, [m.to for m in mail.outbox]
    return found[0]


def html_of(message: EmailMultiAlternatives) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def decide_all(cycle: Cycle, user) -> None:
    services.accept_recommendations(cycle.pk, actor=user, now=NOW + timedelta(hours=1))


# --------------------------------------------------------------------------- invitations


def test_each_reviewer_gets_one_invitation_with_count_due_date_extra_text_and_link(
    cycle, rita, rob
):
    assert emails.send_invitations(cycle.pk).sent == 2

    assert sorted(m.to[0] for m in mail.outbox) == ["rita@contoso.example", "rob@contoso.example"]
    message = only("rita@contoso.example")
    assert message.subject == (
        "Review requested: Quarterly privileged SP review (3 privileged assignments)"
    )
    assert message.from_email == "spreview <spreview@contoso.example>"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    html = html_of(message)
    assert "Hello Rita <img" in message.body
    assert "review 3 privileged assignments (directory roles and application" in message.body
    assert "review <strong>3 privileged assignments</strong> (directory roles" in html
    assert f"Please decide by {ENDS}:" in message.body
    assert f"Please decide by <strong>{ENDS}</strong>:" in html
    for part in (message.body, html):
        assert "Ask Ada before revoking anything used by payroll." in part
        assert "Payroll connector: Global Administrator" in part
        assert "Backup agent: Application Administrator" in part
    link = link_in(message.body)
    assert link.startswith(f"{SITE}/reviews/l/")
    assert f'href="{link}"' in html

    rob_message = only("rob@contoso.example")
    assert rob_message.subject == (
        "Review requested: Quarterly privileged SP review (1 privileged assignment)"
    )
    assert "Hello Rob Reviewer," in rob_message.body
    assert (
        "review 1 privileged assignment (directory roles and application permissions) of"
        in rob_message.body
    )
    assert link_in(rob_message.body) != link


def link_in(body: str) -> str:
    [link] = [word for word in body.split() if word.startswith(f"{SITE}/reviews/l/")]
    return link


def test_names_from_graph_are_escaped_in_the_html_part(cycle):
    emails.send_invitations(cycle.pk)
    message = only("rita@contoso.example")
    html = html_of(message)

    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; sync: Global Administrator" in html
    assert "Hello Rita &lt;img src=x onerror=&quot;alert(2)&quot;&gt;," in html
    # Plain text is not HTML: the names are shown as they are.
    assert f"- {HOSTILE_APP}: Global Administrator" in message.body
    assert f"Hello {HOSTILE_PERSON}," in message.body


def test_invitations_are_sent_once_when_the_task_runs_twice(cycle):
    assert emails.send_invitations(cycle.pk).sent == 2
    assert emails.send_invitations(cycle.pk).sent == 0

    assert len(mail.outbox) == 2
    [event] = AuditEvent.objects.filter(action="reviews.email.invitations")
    assert event.new == {"round": 0, "sent": 2, "failed": 0, "already": 0}
    assert event.summary == "Quarterly privileged SP review #1: 2 invitations sent"


def test_no_invitations_for_a_cycle_that_already_closed(cycle, admin):
    services.stop_cycle(cycle.pk, actor=admin, now=NOW + timedelta(hours=1))
    assert emails.send_invitations(cycle.pk).sent == 0
    assert mail.outbox == []


# --------------------------------------------------------------------------- reminders


def test_reminders_go_only_to_reviewers_with_pending_items_at_the_scheduled_times(cycle, rita, rob):
    decide_all(cycle, rita)

    assert emails.send_due_reminders(FIRST_REMINDER - timedelta(minutes=1)) == 0
    assert mail.outbox == []

    assert emails.send_due_reminders(FIRST_REMINDER) == 1
    message = only("rob@contoso.example")
    assert message.subject == "Reminder: 1 review pending in Quarterly privileged SP review"
    html = html_of(message)
    assert (
        "1 of your 1 assignment in the access review "
        '"Quarterly privileged SP review" (cycle 1) still waits for your decision.'
    ) in " ".join(message.body.split())
    assert f"The review ends {ENDS}" in message.body
    assert f"The review ends <strong>{ENDS}</strong>" in html
    link = link_in(message.body)
    assert f'href="{link}"' in html
    cycle.refresh_from_db()
    assert cycle.next_reminder_at == SECOND_REMINDER
    assert cycle.reminders_sent == 1

    assert emails.send_due_reminders(SECOND_REMINDER - timedelta(minutes=1)) == 0
    assert emails.send_due_reminders(SECOND_REMINDER + timedelta(minutes=5)) == 1
    assert [m.to for m in mail.outbox] == [["rob@contoso.example"]] * 2
    cycle.refresh_from_db()
    assert cycle.next_reminder_at is None
    assert list(
        EmailDelivery.objects.filter(kind="reminder")
        .order_by("round")
        .values_list("round", "recipient__username")
    ) == [(1, "rob-reviewer"), (2, "rob-reviewer")]


def test_a_reminder_tick_that_runs_twice_sends_nothing_more(cycle):
    assert emails.send_due_reminders(FIRST_REMINDER) == 2
    assert emails.send_due_reminders(FIRST_REMINDER) == 0
    assert emails.send_due_reminders(FIRST_REMINDER + timedelta(minutes=1)) == 0

    assert len(mail.outbox) == 2
    [event] = AuditEvent.objects.filter(action="reviews.email.reminders")
    assert event.new == {"round": 1, "sent": 2, "failed": 0, "already": 0}


def test_a_round_run_again_by_a_stale_worker_sends_nothing_more(cycle):
    """A worker that read the due cycle before another moved its due date still finds every
    reviewer claimed."""
    Cycle.objects.filter(pk=cycle.pk).update(next_reminder_at=FIRST_REMINDER)
    emails.send_due_reminders(FIRST_REMINDER)
    Cycle.objects.filter(pk=cycle.pk).update(next_reminder_at=FIRST_REMINDER)

    assert emails.send_due_reminders(FIRST_REMINDER) == 0
    assert len(mail.outbox) == 2


def test_a_failed_reminder_is_released_and_sent_by_the_next_tick(cycle, monkeypatch):
    real_send = EmailMultiAlternatives.send
    refused = []

    def send(message, *args, **kwargs):
        if message.to == ["rob@contoso.example"] and not refused:
            refused.append(message)
            raise smtplib.SMTPRecipientsRefused({"rob@contoso.example": (451, b"try later")})
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", send)

    assert emails.send_due_reminders(FIRST_REMINDER) == 1
    assert [m.to for m in mail.outbox] == [["rita@contoso.example"]]
    assert not EmailDelivery.objects.filter(recipient__username="rob-reviewer").exists()
    event = AuditEvent.objects.get(action="reviews.email.reminders")
    assert event.new == {"round": 1, "sent": 1, "failed": 1, "already": 0}
    cycle.refresh_from_db()
    assert cycle.next_reminder_at == FIRST_REMINDER + emails.REMINDER_RETRY_AFTER

    assert emails.send_due_reminders(cycle.next_reminder_at) == 1
    assert [m.to for m in mail.outbox] == [["rita@contoso.example"], ["rob@contoso.example"]]
    cycle.refresh_from_db()
    assert cycle.next_reminder_at == SECOND_REMINDER


def test_send_reminders_now_is_a_round_of_its_own(cycle, rita, admin):
    decide_all(cycle, rita)
    emails.send_due_reminders(FIRST_REMINDER)

    assert services.request_reminders(cycle.pk, actor=admin) == 1
    assert len(mail.outbox) == 1  # the scheduled round: the request queued its own, sent none
    assert run_queued(SEND_REMINDERS) == 1
    assert services.request_reminders(cycle.pk, actor=admin) == 1
    assert run_queued(SEND_REMINDERS) == 1

    assert [m.to for m in mail.outbox] == [["rob@contoso.example"]] * 3
    events = AuditEvent.objects.filter(action="reviews.email.reminders").order_by("pk")
    assert [(e.actor, e.new["round"]) for e in events] == [(None, 1), (admin, 1000), (admin, 1001)]


def test_two_clicks_before_the_worker_sends_one_reminder_each(cycle, admin):
    assert services.request_reminders(cycle.pk, actor=admin) == 2
    assert services.request_reminders(cycle.pk, actor=admin) == 2

    assert run_queued(SEND_REMINDERS) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["rita@contoso.example", "rob@contoso.example"]


def test_a_reminder_queued_for_a_cycle_that_ends_before_the_worker_sends_nothing(cycle, admin):
    services.request_reminders(cycle.pk, actor=admin)
    services.stop_cycle(cycle.pk, actor=admin)
    before = len(mail.outbox)

    assert run_queued(SEND_REMINDERS) == 1
    assert len(mail.outbox) == before
    assert not EmailDelivery.objects.filter(kind=EmailDelivery.Kind.REMINDER).exists()


def test_no_reminders_once_every_item_is_decided(cycle, rita, rob):
    decide_all(cycle, rita)
    decide_all(cycle, rob)

    assert emails.send_due_reminders(FIRST_REMINDER) == 0
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action="reviews.email.reminders").exists()


# --------------------------------------------------------------------------- notices to admins


def test_admins_get_one_completion_notice_with_counts_and_the_results_link(cycle, rita, admin):
    payroll = cycle.items.get(principal_name="Payroll connector")
    backup = cycle.items.get(principal_name="Backup agent")
    services.record_decision(payroll.pk, "approve", "", actor=rita, now=NOW)
    services.record_decision(backup.pk, "revoke", "", actor=rita, now=NOW)
    services.close_cycle(cycle.pk, now=NOW + timedelta(days=14))
    # Not admins: a reviewer, and a staff account without an address.
    type(admin).objects.create_user("staff-without-mail", email="", is_staff=True)

    assert emails.send_completion_notice(cycle.pk).sent == 1
    assert emails.send_completion_notice(cycle.pk).sent == 0

    message = only("ada@contoso.example")
    assert len(mail.outbox) == 1
    assert message.subject == "Access review completed: Quarterly privileged SP review #1"
    results = f"{SITE}/reviews/cycles/{cycle.pk}/results/"
    html = html_of(message)
    assert "has completed." in message.body
    assert (
        "4 assignments reviewed: 3 kept, 1 to revoke; 2 undecided took the default." in message.body
    )
    assert "Apply the revocations from the results page." in message.body
    assert f"Results: {results}" in message.body
    assert f'href="{results}"' in html
    assert "<strong>3</strong> kept, <strong>1</strong> to revoke" in html


def apply_all(cycle: Cycle, refuse: set[str]) -> None:
    """Apply every queued removal; Graph refuses (400) the principals named in `refuse`."""

    def remove(privilege, justification):
        if privilege.principal_id in refuse:
            raise GraphError("Invalid request", status=400, code="Request_BadRequest")
        return "removed"

    for pk in cycle.items.filter(apply_status="queued").values_list("pk", flat=True):
        services.apply_item(pk, remove, max_attempts=1, now=NOW + timedelta(days=14))


def test_admins_get_one_failure_notice_per_apply_round(
    cycle, admin, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("reviews.tasks.apply_revocation.delay", lambda pk: None)
    monkeypatch.setattr("reviews.tasks.send_completion_notice.delay", lambda pk: None)
    notices = []
    monkeypatch.setattr(
        "reviews.tasks.send_failure_notice.delay", lambda *args: notices.append(args)
    )
    Cycle.objects.filter(pk=cycle.pk).update(
        frozen_settings={**cycle.frozen_settings, "default_decision": "revoke"}
    )
    hostile = cycle.items.get(principal_name=HOSTILE_APP)
    with django_capture_on_commit_callbacks(execute=True):
        services.close_cycle(cycle.pk, now=NOW + timedelta(days=14))
        services.request_apply(cycle.pk, actor=admin, now=NOW + timedelta(days=14))
        apply_all(cycle, refuse={hostile.principal_object_id})

    assert notices == [(cycle.pk, 1)]  # once the round settled, not once per item
    assert emails.send_failure_notice(*notices[0]).sent == 1
    assert emails.send_failure_notice(*notices[0]).sent == 0
    message = only("ada@contoso.example")
    assert message.subject == "Removals failed: 1 in Quarterly privileged SP review #1"
    assert (
        '1 removal of the access review "Quarterly privileged SP review" (cycle 1) failed; '
        "3 assignments were removed."
    ) in " ".join(message.body.split())
    assert f"- {HOSTILE_APP}: Global Administrator (Request_BadRequest)" in message.body
    results = f"{SITE}/reviews/cycles/{cycle.pk}/results/"
    assert results in message.body
    html = html_of(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; sync: Global Administrator" in html
    assert f'href="{results}"' in html

    # The admin retries; it fails again: a new round, a new notice.
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_failed(cycle.pk, actor=admin, now=NOW + timedelta(days=15))
        apply_all(cycle, refuse={hostile.principal_object_id})
    assert notices == [(cycle.pk, 1), (cycle.pk, 2)]
    assert emails.send_failure_notice(cycle.pk, 2).sent == 1
    assert len(mail.outbox) == 2
    rounds = AuditEvent.objects.filter(action="reviews.email.failures").order_by("pk")
    assert [e.new["round"] for e in rounds] == [1, 2]


def test_no_failure_notice_when_every_removal_succeeds(
    cycle, admin, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("reviews.tasks.apply_revocation.delay", lambda pk: None)
    monkeypatch.setattr("reviews.tasks.send_completion_notice.delay", lambda pk: None)
    notices = []
    monkeypatch.setattr(
        "reviews.tasks.send_failure_notice.delay", lambda *args: notices.append(args)
    )
    Cycle.objects.filter(pk=cycle.pk).update(
        frozen_settings={**cycle.frozen_settings, "default_decision": "revoke"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.close_cycle(cycle.pk, now=NOW + timedelta(days=14))
        services.request_apply(cycle.pk, actor=admin, now=NOW + timedelta(days=14))
        apply_all(cycle, refuse=set())

    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED
    assert notices == []


# --------------------------------------------------------------------------- concurrency


def _at_once(target, count: int = 2) -> list:
    """Run `target()` in `count` threads released together, each with its own connection."""
    barrier = threading.Barrier(count)
    results: list = []
    errors: list = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


@pytest.fixture
def no_broker(monkeypatch):
    """Outside a test transaction, commits run their callbacks: keep the invitations the
    cycle's start queues away from any broker."""
    monkeypatch.setattr("reviews.tasks.send_invitations.delay", lambda pk: None)


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_reminder_tick_at_once_send_each_reminder_once(no_broker, cycle):
    results = _at_once(lambda: emails.send_due_reminders(FIRST_REMINDER))

    assert sum(results) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["rita@contoso.example", "rob@contoso.example"]
    assert EmailDelivery.objects.filter(kind="reminder", round=1).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_round_at_once_send_each_reminder_once(no_broker, cycle):
    """Even past the due-date claim (both read the cycle as due), the deliveries hold."""
    due = Cycle.objects.select_related("campaign").get(pk=cycle.pk)
    results = _at_once(lambda: emails._send_reminder_round(due, 1).sent, count=4)

    assert sum(results) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["rita@contoso.example", "rob@contoso.example"]
