"""Celery entry points of the tenant mirror: ids in, state re-read, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import sync
from .graph import GraphConfigError

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def sync_tenant(trigger: str = "schedule", requested_by_id: int | None = None) -> int | None:
    """Run one sync of the configured tenant; a second concurrent request is dropped."""
    try:
        run = sync.sync_configured_tenant(trigger=trigger, requested_by_id=requested_by_id)
    except sync.SyncAlreadyRunning as exc:
        logger.info("sync not started: run %s is still running", exc.run.pk if exc.run else "?")
        return None
    except GraphConfigError as exc:
        logger.error("sync not started: %s", exc)
        return None
    logger.info("sync %s finished: %s", run.pk, run.status)
    return run.pk


@shared_task(ignore_result=True)
def reap_stale_sync_runs() -> int:
    """Mark runs whose worker died as failed, so their lock does not block the next sync."""
    return sync.reap_stale_runs()
