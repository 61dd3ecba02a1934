"""Writing the audit log: one call per state change, inside the change's own transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from identities.people import person_label

from .models import AuditEvent

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
    made.save(force_insert=True)
    return made


def record_many(events: Iterable[AuditEvent]) -> int:
    return len(AuditEvent.objects.bulk_create(list(events), batch_size=1000))
