"""Celery entry points of reviews: ids in, rows re-read, safe to deliver twice."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from identities.graph import GraphClient, GraphConfigError
from identities.graph.removals import Grant, Privilege, current_grants, remove
from outbox import services as outbox

from . import emails, services
from .services.common import (
    APPLY_REVOCATION,
    SEND_COMPLETION_NOTICE,
    SEND_FAILURE_NOTICE,
    SEND_INVITATIONS,
    SEND_REMINDERS,
)

logger = logging.getLogger(__name__)

_client: GraphClient | None = None


def _graph() -> GraphClient:
    """One pooled client per worker process, built on first use."""
    global _client
    if _client is None:
        _client = GraphClient.from_settings()
    return _client


def _remover():
    if not settings.GRAPH_WRITE_ENABLED:
        return None

    def send(privilege: Privilege, justification: str) -> str:
        return remove(_graph(), privilege, justification)

    return send


def _inspect(privilege: Privilege) -> list[Grant]:
    """What Entra ID holds now, read before a retried removal sends anything."""
    return current_grants(_graph(), privilege)


@shared_task(ignore_result=True)
def tick() -> dict[str, int]:
    """Every minute: close due cycles, start due ones, send due reminders, unstick removals
    and emails left unsent by a worker that died."""
    sent = outbox.drain()  # first: what was asked for while the broker was down goes out first
    now = timezone.now()
    closed = services.close_due_cycles(now)
    started = services.start_due_cycles(now)
    reminded = emails.send_due_reminders(now)
    requeued = services.requeue_stalled(now)
    resent = services.resend_queued(now)
    recovered = emails.resend_stale()
    return {
        "closed": len(closed),
        "started": len(started),
        "reminded": reminded,
        "requeued": len(requeued),
        "resent": len(resent),
        "emails_recovered": recovered,
        "outbox_sent": sent,
    }


class RemovalDeferred(Exception):
    """Graph failed in a way that may pass (throttling, 5xx): the item is queued again and the
    task runs later. Its attempts are bounded by APPLY_MAX_ATTEMPTS on the item, not here."""


# Waits of 10 s, 20 s, 40 s … up to 5 min, each drawn at random below that (full jitter), so
# many removals throttled together do not come back together.
@shared_task(
    name=APPLY_REVOCATION,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=None,
    autoretry_for=(RemovalDeferred,),
    retry_backoff=10,
    retry_backoff_max=300,
    retry_jitter=True,
)
def apply_revocation(self, item_id: int) -> str | None:
    """Remove one revoked assignment through Graph; a duplicate delivery finds nothing to do."""
    try:
        remover = _remover()
    except GraphConfigError as exc:
        logger.error("apply of item %s not started: %s", item_id, exc)
        return None
    result = services.apply_item(
        item_id, remover, inspect=_inspect, max_attempts=settings.APPLY_MAX_ATTEMPTS
    )
    if result == services.RETRY:
        raise RemovalDeferred(f"removal of item {item_id} deferred after a transient failure")
    return result


def start_soon() -> bool:
    """Run `tick` on a worker once the transaction commits, so a campaign due now starts in
    seconds instead of at beat's next minute. Best effort: if the broker is unreachable the
    page still answers, and beat's own tick starts the cycle (once the broker is back). False
    when the send already failed (outside a transaction it runs at once), for the page to say."""
    failed: list[Exception] = []

    def send() -> None:
        try:
            tick.delay()
        except (BrokerError, OSError) as exc:  # beat's own tick catches up
            failed.append(exc)
            logger.warning("could not queue an early tick (%s); beat will start the cycle", exc)

    transaction.on_commit(send)
    return not failed


# The email tasks keep their own backoff: Celery's retry_backoff takes whole seconds of at least
# one (tests run the same path with 0.2 s), draws each wait anywhere from zero, and fails the
# task after its last retry, where these stop with an error line and count what they sent.
def _retry_unsent(task, result: emails.Sent, what: str) -> int:
    """Emails the mail server refused are tried again later, with growing waits; those sent
    stay sent (their claims say so), so a retry sends only what is still owed."""
    if result.failed:
        attempt = task.request.retries
        if attempt >= task.max_retries:
            logger.error("%s: %d still unsent after %d attempts", what, result.failed, attempt + 1)
        else:
            base = settings.EMAIL_RETRY_BASE_SECONDS
            wait = min(3600.0, base * 2**attempt) * random.uniform(0.75, 1.0)  # noqa: S311
            raise task.retry(countdown=wait)
    return result.sent


@shared_task(
    name=SEND_INVITATIONS, bind=True, ignore_result=True, max_retries=settings.EMAIL_MAX_RETRIES
)
def send_invitations(self, cycle_id: int) -> int:
    return _retry_unsent(self, emails.send_invitations(cycle_id), f"invitations of {cycle_id}")


@shared_task(
    name=SEND_REMINDERS, bind=True, ignore_result=True, max_retries=settings.EMAIL_MAX_RETRIES
)
def send_reminders(self, cycle_id: int, round_: int, actor_id: int | None = None) -> int:
    """An admin's "Send reminders now", sent here rather than in the request that asked."""
    result = emails.send_reminder_round(cycle_id, round_, actor_id=actor_id)
    return _retry_unsent(self, result, f"reminders of {cycle_id}")


@shared_task(
    name=SEND_COMPLETION_NOTICE,
    bind=True,
    ignore_result=True,
    max_retries=settings.EMAIL_MAX_RETRIES,
)
def send_completion_notice(self, cycle_id: int) -> int:
    result = emails.send_completion_notice(cycle_id)
    return _retry_unsent(self, result, f"completion notice of {cycle_id}")


@shared_task(
    name=SEND_FAILURE_NOTICE, bind=True, ignore_result=True, max_retries=settings.EMAIL_MAX_RETRIES
)
def send_failure_notice(self, cycle_id: int, apply_round: int) -> int:
    result = emails.send_failure_notice(cycle_id, apply_round)
    return _retry_unsent(self, result, f"failure notice of {cycle_id}")
