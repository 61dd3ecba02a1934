"""State changes of the tenant mirror that views and commands may ask for."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from outbox import services as outbox

from .models import SyncRun, Tenant


def configured_tenant() -> Tenant | None:
    """The tenant this deployment mirrors (single tenant today), once it has been seen."""
    if not settings.AZURE_TENANT_ID:
        return None
    return Tenant.objects.filter(tenant_id=settings.AZURE_TENANT_ID).first()


@transaction.atomic
def request_sync(*, actor: AbstractBaseUser | None, trigger: str = "manual") -> None:
    """Queue a sync through the outbox (sent after commit, or by the drain once the broker is
    back); the task itself refuses a concurrent run."""
    from .tasks import sync_tenant

    requested_by_id = actor.pk if actor is not None else None
    outbox.enqueue(sync_tenant, trigger=trigger, requested_by_id=requested_by_id)


def running_sync(tenant: Tenant | None) -> SyncRun | None:
    if tenant is None:
        return None
    return tenant.sync_runs.filter(status=SyncRun.Status.RUNNING).first()
