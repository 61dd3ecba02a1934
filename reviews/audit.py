"""Writing the audit log: one call per state change, inside the change's own transaction.

Every event is appended to its tenant's hash chain (reviews.audit_chain). Appends to one chain
are serialized by a transaction-scoped advisory lock, taken where the event is written and held
until the writing transaction commits, so two writers never both extend the same head.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.people import person_label

from .audit_chain import event_hash, values_of
from .models import AuditEvent, AuditHead

BATCH_SIZE = 1000

SECRET_WORDS = ("secret", "password", "token", "assertion", "key")


def _masked(value: Any) -> Any:
    """Copy of JSON data with secret-looking keys masked, so no secret lands in the log."""
    if isinstance(value, dict):
        return {
            k: "***" if any(w in str(k).lower() for w in SECRET_WORDS) else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def event(
    action: str,
    *,
    actor: Any = None,
    summary: str = "",
    tenant_id: str = "",
    campaign_id: int | None = None,
    cycle_id: int | None = None,
    item_id: int | None = None,
    object_type: str = "",
    object_id: str = "",
    old: Any = None,
    new: Any = None,
) -> AuditEvent:
    """An unsaved event; `record` or `record_many` writes it."""
    return AuditEvent(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=person_label(actor)[:256],
        action=action,
        summary=summary[:512],
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        cycle_id=cycle_id,
        item_id=item_id,
        object_type=object_type,
        object_id=object_id[:64],
        old=_masked(old),
        new=_masked(new),
    )


def record(action: str, **fields: Any) -> AuditEvent:
    made = event(action, **fields)
    append([made])
    return made


def record_many(events: Iterable[AuditEvent]) -> int:
    return len(append(list(events)))


def _lock_chain(tenant_id: str) -> None:
    # SQLite needs no lock: its IMMEDIATE transactions (settings) already admit one writer.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                ["reviews.auditevent:" + tenant_id],
            )


def _new_ids(count: int) -> list[int]:
    """Ids drawn before the insert, because each event's hash covers its id."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('reviews_auditevent', 'id'))"
                " FROM generate_series(1, %s)",
                [count],
            )
            return [row[0] for row in cursor.fetchall()]
        # Under the SQLite write lock this transaction holds, nobody else draws ids.
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM reviews_auditevent")
        last = cursor.fetchone()[0]
        return list(range(last + 1, last + 1 + count))


def append(events: list[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert new events: one lock and one head read per chain, then bulk inserts.

    Each event is stamped now (never earlier than its chain's head), numbered after the head
    and hashed; the new heads are recorded in AuditHead in the same transaction.
    """
    if not events:
        return events
    with transaction.atomic():
        ids = iter(_new_ids(len(events)))
        heads = []
        chains = groupby(sorted(events, key=lambda e: e.tenant_id), key=lambda e: e.tenant_id)
        # Chains are locked in one order (sorted) so that two appends cannot deadlock.
        for tenant_id, chained in chains:
            _lock_chain(tenant_id)
            seq, digest, last_at = (
                AuditEvent.objects.filter(tenant_id=tenant_id)
                .order_by("-seq")
                .values_list("seq", "hash", "at")
                .first()
            ) or (0, "", None)
            now = timezone.now()
            for made in chained:
                seq += 1
                made.id = next(ids)
                made.seq = seq
                made.prev_hash = digest
                made.at = max(now, last_at) if last_at else now
                made.hash = digest = event_hash(values_of(made))
            heads.append(AuditHead(tenant_id=tenant_id, seq=seq, hash=digest, at=now))
        AuditEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
        AuditHead.objects.bulk_create(heads)
    return events
