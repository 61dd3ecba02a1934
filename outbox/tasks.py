"""Celery entry point of the outbox: beat drains it, so work queued while the broker was down
goes out soon after it is back."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def drain() -> int:
    return services.drain()
