"""Run what the outbox holds the way a worker would, in this process: tests whose transaction
never commits see the task a request asked for, then its effect."""

from __future__ import annotations

from celery import current_app

from outbox.models import Message


def run_queued(task_name: str) -> int:
    """Run every queued call of this task (eagerly, with its retries) and drop it from the
    outbox; how many ran."""
    messages = list(Message.objects.filter(task=task_name).order_by("pk"))
    for message in messages:
        outcome = current_app.tasks[task_name].apply(args=message.args, kwargs=message.kwargs)
        assert outcome.successful(), outcome.traceback
        message.delete()
    return len(messages)
