"""A task waiting to reach the broker: written in the transaction that asks for it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Message(models.Model):
    """One Celery task call not yet handed to the broker. Deleted once it is: a row that exists
    is owed. Arguments are ids and flags only (tasks re-read their rows), never secrets."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        # The drain sends oldest first.
        indexes = [models.Index(fields=["created_at", "id"], name="outbox_oldest_first")]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"
