"""Emails to reviewers and admins: invitations, reminders, completion notices.

Every sender claims its work with a conditional UPDATE first, so two workers (or a tick that
runs twice) never send the same reminder twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import audit
from .models import Cycle, Decision, ReviewItem


def _queue_url(cycle: Cycle) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("reviews:queue", args=[cycle.pk])


def _reviewers(cycle: Cycle, *, pending_only: bool) -> list[tuple[object, int, int]]:
    """(user, items, pending) per reviewer of the cycle who has an email address."""
    items = ReviewItem.objects.filter(cycle=cycle)
    rows = (
        items.values("reviewer_links__user")
        .annotate(
            total=Count("pk", distinct=True),
            pending=Count("pk", filter=Q(decision=Decision.PENDING), distinct=True),
        )
        .filter(reviewer_links__user__isnull=False)
    )
    counts = {r["reviewer_links__user"]: (r["total"], r["pending"]) for r in rows}
    users = get_user_model().objects.filter(pk__in=counts).exclude(email="").order_by("pk")
    found = [(u, *counts[u.pk]) for u in users]
    return [row for row in found if row[2] > 0] if pending_only else found


def _messages(cycle: Cycle, template: str, rows) -> list[tuple[str, str, str, list[str]]]:
    messages = []
    for user, total, pending in rows:
        context = {
            "cycle": cycle,
            "campaign": cycle.campaign,
            "user": user,
            "total": total,
            "pending": pending,
            "url": _queue_url(cycle),
            "invitation_text": cycle.setting("invitation_text"),
        }
        subject = " ".join(
            render_to_string(f"reviews/email/{template}_subject.txt", context).split()
        )
        body = render_to_string(f"reviews/email/{template}.txt", context)
        messages.append((subject, body, settings.DEFAULT_FROM_EMAIL, [user.email]))
    return messages


def send_invitations(cycle_id: int) -> int:
    cycle = Cycle.objects.select_related("campaign").filter(pk=cycle_id).first()
    if cycle is None or not cycle.is_open:
        return 0
    sent = send_mass_mail(_messages(cycle, "invitation", _reviewers(cycle, pending_only=False)))
    audit.record(
        "reviews.email.invitations",
        summary=f"{cycle.campaign.name} #{cycle.number}: {sent} invitations sent",
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        new={"sent": sent},
    )
    return sent


def _next_reminder(cycle: Cycle, after: datetime) -> datetime | None:
    days = cycle.setting("reminder_days") or []
    moments = sorted(cycle.ends_at - timedelta(days=int(d)) for d in days)
    return next((m for m in moments if m > after), None)


def send_reminders(cycle: Cycle, *, actor=None) -> int:
    """One reminder per reviewer with pending items."""
    rows = _reviewers(cycle, pending_only=True)
    sent = send_mass_mail(_messages(cycle, "reminder", rows))
    audit.record(
        "reviews.email.reminders",
        actor=actor,
        summary=f"{cycle.campaign.name} #{cycle.number}: {sent} reminders sent",
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        new={"sent": sent},
    )
    return sent


def send_due_reminders(now: datetime | None = None) -> int:
    now = now or timezone.now()
    total = 0
    due = Cycle.objects.filter(status=Cycle.Status.ACTIVE, next_reminder_at__lte=now)
    for cycle in due.select_related("campaign"):
        following = _next_reminder(cycle, now)
        claimed = Cycle.objects.filter(
            pk=cycle.pk, status=Cycle.Status.ACTIVE, next_reminder_at=cycle.next_reminder_at
        ).update(next_reminder_at=following, reminders_sent=cycle.reminders_sent + 1)
        if claimed:
            total += send_reminders(cycle)
    return total


def send_completion_notice(cycle_id: int) -> int:
    cycle = Cycle.objects.select_related("campaign").filter(pk=cycle_id).first()
    if cycle is None:
        return 0
    admins = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    counts = cycle.items.aggregate(
        total=Count("pk"),
        revoke=Count("pk", filter=Q(outcome="revoke")),
        keep=Count("pk", filter=Q(outcome="keep")),
    )
    context = {
        "cycle": cycle,
        "campaign": cycle.campaign,
        "counts": counts,
        "url": settings.SITE_URL.rstrip("/") + reverse("reviews:results", args=[cycle.pk]),
    }
    subject = " ".join(render_to_string("reviews/email/completed_subject.txt", context).split())
    body = render_to_string("reviews/email/completed.txt", context)
    return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [a.email]) for a in admins])
