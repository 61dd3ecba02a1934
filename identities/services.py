"""State changes of the tenant mirror that views, commands and other apps ask for: the mirror's
tables are written here and by the sync, nowhere else."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from outbox import services as outbox

from .models import Assignment, SyncRun, Tenant

# By name through the outbox: identities.tasks imports this module, never the reverse.
SYNC_TENANT = "identities.tasks.sync_tenant"


def configured_tenant() -> Tenant | None:
    """The tenant this deployment mirrors (single tenant today), once it has been seen."""
    if not settings.AZURE_TENANT_ID:
        return None
    return Tenant.objects.filter(tenant_id=settings.AZURE_TENANT_ID).first()


@transaction.atomic
def request_sync(*, actor: AbstractBaseUser | None, trigger: str = "manual") -> None:
    """Queue a sync through the outbox (sent after commit, or by the drain once the broker is
    back); the task itself refuses a concurrent run."""
    requested_by_id = actor.pk if actor is not None else None
    outbox.enqueue(SYNC_TENANT, trigger=trigger, requested_by_id=requested_by_id)


def mark_removed(assignment_ids: Iterable[int], *, when: datetime) -> int:
    """Record that these assignments left the tenant at `when` (a review's removal went through,
    or Entra ID no longer had them); how many were not recorded as removed yet. One conditional
    UPDATE, in the caller's transaction: the caller audits why, and a second call changes
    nothing."""
    return Assignment.objects.filter(pk__in=list(assignment_ids), removed_at__isnull=True).update(
        removed_at=when
    )


def running_sync(tenant: Tenant | None) -> SyncRun | None:
    if tenant is None:
        return None
    return tenant.sync_runs.filter(status=SyncRun.Status.RUNNING).first()
