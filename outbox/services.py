"""The transactional outbox: a task that a state change asks for is a row written in the same
transaction, sent to the broker after commit, and sent later by the drain if the broker was
down. So an outage delays work instead of losing it, and never fails the request that asked.

Each row is sent by whoever holds its lock (SELECT … FOR UPDATE SKIP LOCKED) and deleted in the
same transaction: the request's own send and any number of drains never send one row twice. A
crash between the publish and the commit can send it again; the tasks are idempotent for that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from celery import Task, current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from .models import Message

logger = logging.getLogger(__name__)

BATCH = 100
# What a page adds when the work it queued could not reach the broker yet.
UNREACHABLE = (
    "The task queue cannot be reached right now: this work is saved and runs once it is back."
)
# Errors that say the broker itself is unreachable: the next message would fail the same way.
_BROKER_DOWN = (BrokerError, OSError)
_CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")

_watches: ContextVar[tuple[Watch, ...]] = ContextVar("outbox_watches", default=())


def enqueue(task: Task | str, *args: Any, **kwargs: Any) -> None:
    """Ask for `task(*args, **kwargs)` once the current transaction commits."""
    _write([Message(task=_name(task), args=list(args), kwargs=kwargs)])


def enqueue_many(task: Task | str, calls: Iterable[Sequence[Any]]) -> None:
    """Ask for `task(*call)` for each call, in one INSERT, once the transaction commits."""
    name = _name(task)
    _write([Message(task=name, args=list(call)) for call in calls])


def _name(task: Task | str) -> str:
    return task if isinstance(task, str) else task.name


def _write(messages: list[Message]) -> None:
    if not messages:
        return
    Message.objects.bulk_create(messages)
    ids = [m.pk for m in messages]
    for watch in _watches.get():
        watch.ids.extend(ids)
    # Robust: whatever goes wrong after commit, the request that committed still answers.
    transaction.on_commit(lambda: send(ids), robust=True)


def send(ids: Sequence[int]) -> int:
    """Publish these messages now, unless a drain already holds or sent them; how many sent.
    Stops at the first broker failure, so an outage costs a request one timeout, not one each."""
    sent = 0
    for start in range(0, len(ids), BATCH):
        with transaction.atomic():
            rows = (
                Message.objects.select_for_update(skip_locked=True)
                .filter(pk__in=ids[start : start + BATCH])
                .order_by("created_at", "pk")
            )
            done, broker_down = _publish(list(rows))
        sent += done
        if broker_down:
            break
    return sent


def drain(*, limit: int = 10_000) -> int:
    """Send what is left, oldest first (the tick and beat call this); how many sent. Rows that
    another drain or a request is sending are skipped, not waited for."""
    oldest = Message.objects.select_for_update(skip_locked=True).order_by("created_at", "pk")
    sent = 0
    while sent < limit:
        with transaction.atomic():
            done, broker_down = _publish(list(oldest[:BATCH]))
        sent += done
        if broker_down or not done:
            break
    return sent


def _publish(rows: list[Message]) -> tuple[int, bool]:
    """Hand each locked row to the broker and delete those it took; (how many, broker down)."""
    sent: list[int] = []
    broker_down = False
    for message in rows:
        try:
            _send_one(message)
        except Exception as exc:  # a failed send is recorded and retried, never raised
            _record_failure(message, exc)
            if isinstance(exc, _BROKER_DOWN):
                broker_down = True
                break
        else:
            sent.append(message.pk)
    if sent:
        Message.objects.filter(pk__in=sent).delete()
    return len(sent), broker_down


def _send_one(message: Message) -> None:
    """Through the registered task when there is one (so eager mode and tests' stand-ins
    apply), else by name."""
    task = current_app.tasks.get(message.task)
    if task is None:
        current_app.send_task(message.task, args=message.args, kwargs=message.kwargs)
    else:
        task.delay(*message.args, **message.kwargs)


def _record_failure(message: Message, exc: Exception) -> None:
    error = _CREDENTIALS.sub(r"\1***@", f"{type(exc).__name__}: {exc}")[:500]
    Message.objects.filter(pk=message.pk).update(
        attempts=F("attempts") + 1, last_attempt_at=timezone.now(), last_error=error
    )
    log = logger.warning if isinstance(exc, _BROKER_DOWN) else logger.error
    log(
        "task %s (outbox #%s) not sent yet, kept for the drain: %s", message.task, message.pk, error
    )


@dataclass
class Watch:
    """The messages queued inside a `watch()` block."""

    ids: list[int] = field(default_factory=list)

    def unsent(self) -> int:
        """How many of them the broker refused (a send not tried yet does not count)."""
        if not self.ids:
            return 0
        return Message.objects.filter(pk__in=self.ids, attempts__gt=0).count()


@contextmanager
def watch() -> Iterator[Watch]:
    """Collect what the block queues, so that a page can say whether it reached the broker."""
    current = Watch()
    token = _watches.set((*_watches.get(), current))
    try:
        yield current
    finally:
        _watches.reset(token)
