"""Emails that did not go out are sent later, and still only once: a refusal by the mail server
is retried by the task with growing waits; a claim left unsent by a worker that died goes stale
and the tick sends it; a live sender working through a long list keeps its claims fresh."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from reviews import emails, services, tasks
from reviews.models import AuditEvent, Campaign, Cycle, EmailDelivery
from tests.factories import NOW

INVITATION = EmailDelivery.Kind.INVITATION


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://spreview.contoso.example"


def claimed_by_a_dead_sender(cycle: Cycle, users, minutes_ago: int) -> None:
    """What a worker killed between claiming and sending leaves behind."""
    emails._claim(cycle, INVITATION, 0, [u.pk for u in users])
    EmailDelivery.objects.filter(cycle=cycle, kind=INVITATION).update(
        claimed_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def recipients() -> list[list[str]]:
    return sorted(m.to for m in mail.outbox)


def test_a_live_claim_is_left_alone_and_a_stale_one_is_sent_by_the_tick(
    cycle,
    rita,
    rob,
    settings,
):
    settings.EMAIL_CLAIM_STALE_SECONDS = 1800
    claimed_by_a_dead_sender(cycle, [rita, rob], minutes_ago=10)
    # Ten minutes is not stale: its sender may still be at work, so nobody sends a second copy.
    assert emails.send_invitations(cycle.pk).sent == 0
    assert emails.resend_stale() == 0
    assert mail.outbox == []

    EmailDelivery.objects.filter(cycle=cycle).update(
        claimed_at=timezone.now() - timedelta(minutes=31)
    )
    assert emails.resend_stale() == 2
    assert recipients() == [["rita@contoso.example"], ["rob@contoso.example"]]
    assert EmailDelivery.objects.filter(cycle=cycle, sent_at__isnull=True).count() == 0
    # Once sent, never again: not by the tick, not by a late duplicate of the task.
    assert emails.resend_stale() == 0
    assert emails.send_invitations(cycle.pk).sent == 0
    assert len(mail.outbox) == 2
    event = AuditEvent.objects.get(action="reviews.email.invitations")
    assert event.new == {"round": 0, "sent": 2, "failed": 0, "already": 0}


def test_the_tick_runs_the_recovery(cycle, rita, rob):
    # A cycle running now, and no other start due: the tick has only the recovery to do.
    Cycle.objects.filter(pk=cycle.pk).update(
        ends_at=timezone.now() + timedelta(days=7), next_reminder_at=None
    )
    Campaign.objects.update(next_start_at=timezone.now() + timedelta(days=30))
    claimed_by_a_dead_sender(cycle, [rita, rob], minutes_ago=120)
    result = tasks.tick()
    assert result["emails_recovered"] == 2
    assert recipients() == [["rita@contoso.example"], ["rob@contoso.example"]]


def test_a_stale_claim_with_nothing_left_to_say_is_dropped(cycle, rita, admin):
    emails._claim(cycle, EmailDelivery.Kind.REMINDER, 1, [rita.pk])
    EmailDelivery.objects.update(claimed_at=timezone.now() - timedelta(hours=2))
    services.stop_cycle(cycle.pk, actor=admin, now=NOW + timedelta(hours=1))

    assert emails.resend_stale() == 0
    assert mail.outbox == []
    assert not EmailDelivery.objects.filter(kind=EmailDelivery.Kind.REMINDER).exists()


def test_a_long_batch_renews_the_claims_it_has_not_sent_yet(
    cycle,
    monkeypatch,
):
    monkeypatch.setattr(emails, "CLAIM_TOUCH_SECONDS", -1)  # renew after every message
    real_send = EmailMultiAlternatives.send
    waiting: list = []

    def send(message, *args, **kwargs):
        waiting.append(
            list(EmailDelivery.objects.filter(sent_at__isnull=True).values_list("claimed_at"))
        )
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", send)
    assert emails.send_invitations(cycle.pk).sent == 2
    [(claimed_before,)], [(claimed_later,)] = waiting[0][:1], waiting[1]
    assert claimed_later > claimed_before


def refusing(monkeypatch, who: str, times: int | None) -> list:
    """The mail server refuses `who` the first `times` times (always when None)."""
    real_send = EmailMultiAlternatives.send
    refused: list = []

    def send(message, *args, **kwargs):
        if message.to == [who] and (times is None or len(refused) < times):
            refused.append(message)
            raise smtplib.SMTPRecipientsRefused({who: (451, b"4.3.0 try again later")})
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", send)
    return refused


def test_the_task_retries_what_the_mail_server_refused_and_only_that(
    cycle,
    monkeypatch,
):
    refused = refusing(monkeypatch, "rob@contoso.example", times=2)
    outcome = tasks.send_invitations.apply(args=[cycle.pk])
    assert outcome.successful(), outcome.traceback
    assert len(refused) == 2
    assert recipients() == [["rita@contoso.example"], ["rob@contoso.example"]]
    rounds = [e.new for e in AuditEvent.objects.filter(action="reviews.email.invitations")]
    assert sorted((r["sent"], r["failed"]) for r in rounds) == [(0, 1), (1, 0), (1, 1)]


def test_the_task_gives_up_after_its_retries_and_says_so(cycle, monkeypatch, caplog):
    refused = refusing(monkeypatch, "rob@contoso.example", times=None)
    monkeypatch.setattr(tasks.send_invitations, "max_retries", 2)
    with caplog.at_level(logging.ERROR, logger="reviews.tasks"):
        outcome = tasks.send_invitations.apply(args=[cycle.pk])
    assert outcome.successful(), outcome.traceback
    assert len(refused) == 3
    assert recipients() == [["rita@contoso.example"]]
    assert "1 still unsent after 3 attempts" in caplog.text
    # Nothing claimed is left behind: a later attempt (an admin's reminder) can still reach Rob.
    assert not EmailDelivery.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.parametrize("attempt", [0, 3, 10])
def test_waits_grow_and_stay_under_an_hour(cycle, settings, attempt):
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    waits: list[float] = []

    class Task:
        max_retries = 10

        class request:
            retries = attempt

        @staticmethod
        def retry(countdown):
            waits.append(countdown)
            return RuntimeError("retry")

    if attempt >= Task.max_retries:
        assert tasks._retry_unsent(Task, emails.Sent(failed=1), "x") == 0
        assert waits == []
        return
    with pytest.raises(RuntimeError):
        tasks._retry_unsent(Task, emails.Sent(failed=1), "x")
    assert 0.75 * min(3600, 60 * 2**attempt) <= waits[0] <= min(3600, 60 * 2**attempt)
