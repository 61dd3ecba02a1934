"""Emails to reviewers and admins: invitations, reminders, completion and failure notices.

Each email is one message to one person, in plain text and HTML, built from templates in
templates/reviews/email/. Sending is exactly-once per occasion: a sender first claims its
recipients in EmailDelivery (INSERT … ON CONFLICT DO NOTHING under its own claim token) and
sends only to those it claimed, so two workers, or a tick that runs twice, never send the same
email twice. A send that fails releases its claim, so that a retry sends it (the tasks retry
with backoff). A claim left unsent by a worker that died goes stale after
EMAIL_CLAIM_STALE_SECONDS, far beyond EMAIL_TIMEOUT: the tick then sends that email again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Count, Max, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import audit, links
from .models import ApplyStatus, Cycle, Decision, EmailDelivery, ItemReviewer, ReviewItem
from .privileges import privilege_label

logger = logging.getLogger(__name__)

Kind = EmailDelivery.Kind

# Scheduled reminders are rounds 1, 2, … (their place in the schedule); an admin's "send
# reminders now" takes the next free round from here, so it never collides with the schedule.
ADMIN_ROUNDS_FROM = 1000
# After a failed reminder send, the tick tries the same round again this much later.
REMINDER_RETRY_AFTER = timedelta(minutes=10)
# How many assignments an invitation names; the queue shows the rest.
INVITATION_PREVIEW = 10
FAILURE_PREVIEW = 20
# A sender working through a long list renews its unsent claims this often, so they never look
# abandoned (EMAIL_CLAIM_STALE_SECONDS) while it is alive.
CLAIM_TOUCH_SECONDS = 60


@dataclass(frozen=True)
class Sent:
    """What one send call did: sent now, failed (claim released), sent before (not again)."""

    sent: int = 0
    failed: int = 0
    already: int = 0

    def as_json(self, round_: int) -> dict[str, int]:
        return {"round": round_, "sent": self.sent, "failed": self.failed, "already": self.already}


# --- rendering -------------------------------------------------------------------------------


def display_name(user) -> str:
    """How an email greets a person: their Entra display name, else their name, else username."""
    account = getattr(user, "entra", None)
    if account is not None and account.display_name:
        return account.display_name
    return user.get_full_name() or user.get_username()


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _message(template: str, context: dict, to: str, connection) -> EmailMultiAlternatives:
    """One message from `{template}_subject.txt`, `{template}.txt` and `{template}.html`."""
    subject = " ".join(render_to_string(f"reviews/email/{template}_subject.txt", context).split())
    text = render_to_string(f"reviews/email/{template}.txt", context)
    html = render_to_string(f"reviews/email/{template}.html", context)
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [to],
        connection=connection,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


# --- claiming and sending --------------------------------------------------------------------


def _stale_claims(cycle_id: int, kind: str, round_: int):
    """Claims of one occasion left unsent for longer than any live sender could take."""
    return EmailDelivery.objects.filter(
        cycle_id=cycle_id,
        kind=kind,
        round=round_,
        sent_at__isnull=True,
        claimed_at__lt=_stale_before(),
    )


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.EMAIL_CLAIM_STALE_SECONDS)


def _claim(cycle: Cycle, kind: str, round_: int, user_ids: Iterable[int]) -> tuple[uuid.UUID, set]:
    """Insert one delivery row per recipient; the ones carrying our token are ours to send.

    An unsent claim older than EMAIL_CLAIM_STALE_SECONDS belongs to a sender that died (a live
    one gives up on the mail server after EMAIL_TIMEOUT): it is dropped and claimed anew."""
    user_ids = list(user_ids)
    token = uuid.uuid4()
    _stale_claims(cycle.pk, kind, round_).filter(recipient_id__in=user_ids).delete()
    EmailDelivery.objects.bulk_create(
        [
            EmailDelivery(cycle=cycle, kind=kind, round=round_, recipient_id=pk, claim=token)
            for pk in user_ids
        ],
        ignore_conflicts=True,
    )
    mine = set(EmailDelivery.objects.filter(claim=token).values_list("recipient_id", flat=True))
    return token, mine


def _send(
    cycle: Cycle,
    kind: str,
    round_: int,
    recipients: list,
    build: Callable[[object, object], EmailMultiAlternatives],
) -> Sent:
    """Claim, then send `build(user, connection)` to each recipient claimed by this call."""
    if not recipients:
        return Sent()
    token, mine = _claim(cycle, kind, round_, [u.pk for u in recipients])
    if not mine:
        return Sent(already=len(recipients))
    sent = 0
    touched = time.monotonic()
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
        for user in recipients:
            if user.pk not in mine:
                continue
            try:
                build(user, connection).send()
            except OSError as exc:  # SMTPException is one too
                logger.warning("%s to user %s, cycle %s failed: %s", kind, user.pk, cycle.pk, exc)
                continue
            EmailDelivery.objects.filter(claim=token, recipient_id=user.pk).update(
                sent_at=timezone.now()
            )
            sent += 1
            if time.monotonic() - touched > CLAIM_TOUCH_SECONDS:
                # A long batch on a slow server: its claims still belong to a live sender.
                EmailDelivery.objects.filter(claim=token, sent_at__isnull=True).update(
                    claimed_at=timezone.now()
                )
                touched = time.monotonic()
    except OSError as exc:
        logger.warning("%s for cycle %s: the mail server refused: %s", kind, cycle.pk, exc)
    finally:
        connection.close()
        # Whatever was claimed and not sent (a refused message, a lost server, an error while
        # rendering) is released, so that the next attempt sends it.
        released, _ = EmailDelivery.objects.filter(claim=token, sent_at__isnull=True).delete()
    return Sent(sent=sent, failed=released, already=len(recipients) - len(mine))


def _audit(action: str, cycle: Cycle, what: str, result: Sent, round_: int, actor=None) -> None:
    extra = f", {result.failed} failed" if result.failed else ""
    audit.record(
        action,
        actor=actor,
        summary=f"{cycle.campaign.name} #{cycle.number}: {result.sent} {what} sent{extra}",
        campaign_id=cycle.campaign_id,
        cycle_id=cycle.pk,
        new=result.as_json(round_),
    )


# --- reviewers: invitations and reminders ----------------------------------------------------


def _reviewers(cycle: Cycle, *, pending_only: bool) -> list:
    """Reviewers of the cycle who have an email address, with `total` and `pending` counts."""
    rows = (
        ReviewItem.objects.filter(cycle=cycle, reviewer_links__user__isnull=False)
        .values("reviewer_links__user")
        .annotate(
            total=Count("pk", distinct=True),
            pending=Count("pk", filter=Q(decision=Decision.PENDING), distinct=True),
        )
    )
    counts = {r["reviewer_links__user"]: (r["total"], r["pending"]) for r in rows}
    users = (
        get_user_model()
        .objects.filter(pk__in=counts, is_active=True)
        .exclude(email="")
        .select_related("entra")
        .order_by("pk")
    )
    found = []
    for user in users:
        user.total, user.pending = counts[user.pk]
        if user.pending or not pending_only:
            found.append(user)
    return found


def _reviewer_context(cycle: Cycle, user) -> dict:
    return {
        "cycle": cycle,
        "campaign": cycle.campaign,
        "name": display_name(user),
        "total": user.total,
        "pending": user.pending,
        "url": links.make_link(user, cycle),
        "my_reviews_url": _absolute(reverse("reviews:my_reviews")),
    }


def _previews(cycle: Cycle, users: list) -> dict[int, list[tuple[str, str]]]:
    """The first privileges (principal, privilege in words) each reviewer is asked about, in
    one query."""
    rows = (
        ItemReviewer.objects.filter(item__cycle=cycle, user_id__in=[u.pk for u in users])
        .order_by("user_id", "item__principal_name", "item__role_name", "item_id")
        .values_list(
            "user_id",
            "item__principal_name",
            "item__role_name",
            "item__privilege_type",
            "item__resource_name",
            "item__tier",
        )
    )
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for user_id, principal, role, privilege_type, resource, tier in rows:
        if len(found[user_id]) < INVITATION_PREVIEW:
            label = privilege_label(role, privilege_type, resource, tier)
            found[user_id].append((principal, label))
    return found


def _open_cycle(cycle_id: int) -> Cycle | None:
    cycle = Cycle.objects.select_related("campaign").filter(pk=cycle_id).first()
    return cycle if cycle is not None and cycle.is_open else None


def send_invitations(cycle_id: int) -> Sent:
    """One invitation per reviewer of a cycle that has just started."""
    cycle = _open_cycle(cycle_id)
    if cycle is None:
        return Sent()
    reviewers = _reviewers(cycle, pending_only=False)
    previews = _previews(cycle, reviewers)
    text = cycle.setting("invitation_text")

    def build(user, connection) -> EmailMultiAlternatives:
        context = _reviewer_context(cycle, user)
        context["invitation_text"] = text
        context["preview"] = previews.get(user.pk, [])
        context["more"] = max(0, user.total - len(context["preview"]))
        return _message("invitation", context, user.email, connection)

    result = _send(cycle, Kind.INVITATION, 0, reviewers, build)
    if result.sent or result.failed:
        _audit("reviews.email.invitations", cycle, "invitations", result, 0)
    return result


def _reminder_schedule(cycle: Cycle) -> list[datetime]:
    days = cycle.setting("reminder_days") or []
    return sorted({cycle.ends_at - timedelta(days=int(d)) for d in days})


def _send_reminder_round(cycle: Cycle, round_: int, *, actor=None) -> Sent:
    reviewers = _reviewers(cycle, pending_only=True)

    def build(user, connection) -> EmailMultiAlternatives:
        return _message("reminder", _reviewer_context(cycle, user), user.email, connection)

    result = _send(cycle, Kind.REMINDER, round_, reviewers, build)
    if actor is not None or result.sent or result.failed:
        _audit("reviews.email.reminders", cycle, "reminders", result, round_, actor=actor)
    return result


def reviewers_to_remind(cycle: Cycle) -> list:
    """Reviewers with pending items and an email address: whom a reminder round writes to."""
    return _reviewers(cycle, pending_only=True)


def next_admin_round(cycle: Cycle) -> int:
    """The round an admin's "send reminders now" takes: one of its own, after any sent before.
    Two clicks before the first round went out take the same round, and its claims send it
    once."""
    last = EmailDelivery.objects.filter(
        cycle=cycle, kind=Kind.REMINDER, round__gte=ADMIN_ROUNDS_FROM
    ).aggregate(last=Max("round"))["last"]
    return (last + 1) if last is not None else ADMIN_ROUNDS_FROM


def send_reminder_round(cycle_id: int, round_: int, *, actor_id: int | None = None) -> Sent:
    """The reminder task's work: this round to every reviewer still pending, if the cycle still
    runs; audited with the admin who asked for it."""
    cycle = _open_cycle(cycle_id)
    if cycle is None:
        return Sent()
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return _send_reminder_round(cycle, round_, actor=actor)


def send_due_reminders(now: datetime | None = None) -> int:
    """The tick's reminders: for each running cycle whose reminder is due, the latest
    scheduled round that has come, then the due date moves to the next one."""
    now = now or timezone.now()
    total = 0
    due = Cycle.objects.filter(status=Cycle.Status.ACTIVE, next_reminder_at__lte=now)
    for cycle in due.select_related("campaign"):
        schedule = _reminder_schedule(cycle)
        round_ = sum(1 for moment in schedule if moment <= now)
        following = next((m for m in schedule if m > now), None)
        result = Sent()
        if round_ and cycle.ends_at > now:
            result = _send_reminder_round(cycle, round_)
        if result.failed:
            # Try the same round again soon; the cycle's end bounds the retries.
            retry = now + REMINDER_RETRY_AFTER
            following = min(retry, following) if following else retry
        Cycle.objects.filter(
            pk=cycle.pk, status=Cycle.Status.ACTIVE, next_reminder_at=cycle.next_reminder_at
        ).update(next_reminder_at=following, reminders_sent=max(round_, cycle.reminders_sent))
        total += result.sent
    return total


# --- admins: completion and failure notices --------------------------------------------------


def _admins() -> list:
    return list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .select_related("entra")
        .order_by("pk")
    )


def send_completion_notice(cycle_id: int) -> Sent:
    """To every admin once the cycle closed: what was kept and what is to be revoked."""
    cycle = Cycle.objects.select_related("campaign").filter(pk=cycle_id).first()
    if cycle is None or not cycle.is_closed:
        return Sent()
    counts = cycle.items.aggregate(
        total=Count("pk"),
        revoke=Count("pk", filter=Q(outcome="revoke")),
        keep=Count("pk", filter=Q(outcome="keep")),
        undecided=Count("pk", filter=Q(outcome_source__startswith="default:")),
    )
    revoked = cycle.items.filter(outcome="revoke").order_by("principal_name", "role_name", "pk")
    context = {
        "cycle": cycle,
        "campaign": cycle.campaign,
        "counts": counts,
        "revoked": list(revoked[:FAILURE_PREVIEW]),
        "more_revoked": max(0, counts["revoke"] - FAILURE_PREVIEW),
        "auto_apply": bool(cycle.setting("auto_apply")),
        "url": _absolute(reverse("reviews:results", args=[cycle.pk])),
    }

    def build(user, connection) -> EmailMultiAlternatives:
        personal = {**context, "name": display_name(user)}
        return _message("completed", personal, user.email, connection)

    result = _send(cycle, Kind.COMPLETION, 0, _admins(), build)
    if result.sent or result.failed:
        _audit("reviews.email.completion", cycle, "completion notices", result, 0)
    return result


def send_failure_notice(cycle_id: int, apply_round: int) -> Sent:
    """To every admin when an apply round settled with removals that failed."""
    cycle = Cycle.objects.select_related("campaign").filter(pk=cycle_id).first()
    if cycle is None:
        return Sent()
    failed = cycle.items.filter(apply_status=ApplyStatus.FAILED).order_by(
        "principal_name", "role_name", "pk"
    )
    count = failed.count()
    if not count:
        return Sent()
    context = {
        "cycle": cycle,
        "campaign": cycle.campaign,
        "count": count,
        "failed": list(failed[:FAILURE_PREVIEW]),
        "more": max(0, count - FAILURE_PREVIEW),
        "removed": cycle.items.filter(
            apply_status__in=(ApplyStatus.APPLIED, ApplyStatus.ALREADY_GONE)
        ).count(),
        "url": _absolute(reverse("reviews:results", args=[cycle.pk])),
    }

    def build(user, connection) -> EmailMultiAlternatives:
        return _message("failed", {**context, "name": display_name(user)}, user.email, connection)

    result = _send(cycle, Kind.FAILURE, apply_round, _admins(), build)
    if result.sent or result.failed:
        _audit("reviews.email.failures", cycle, "failure notices", result, apply_round)
    return result


# --- recovery --------------------------------------------------------------------------------


def resend_stale() -> int:
    """The tick's safety net: every occasion with a stale unsent claim (its sender died between
    claiming and sending) is sent again; the sender drops the stale claims and sends only
    those. Returns how many emails went out."""
    stale = (
        EmailDelivery.objects.filter(sent_at__isnull=True, claimed_at__lt=_stale_before())
        .values_list("cycle_id", "kind", "round")
        .distinct()
    )
    total = 0
    for cycle_id, kind, round_ in stale:
        if kind == Kind.INVITATION:
            result = send_invitations(cycle_id)
        elif kind == Kind.COMPLETION:
            result = send_completion_notice(cycle_id)
        elif kind == Kind.FAILURE:
            result = send_failure_notice(cycle_id, round_)
        else:
            cycle = _open_cycle(cycle_id)
            result = _send_reminder_round(cycle, round_) if cycle else Sent()
        if not result.sent and not result.failed:
            # Nothing left to say (the cycle ended, the person has nothing pending): the stale
            # claim goes, so that it is not looked at again every minute.
            _stale_claims(cycle_id, kind, round_).delete()
        total += result.sent
    return total
