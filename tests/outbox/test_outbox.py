"""The outbox: a task asked for by a state change is written with it, sent after commit, kept
when the broker refuses it, and sent exactly once by whichever sender holds its row."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse
from kombu.exceptions import OperationalError

from outbox import services as outbox
from outbox.models import Message
from reviews import services, tasks
from reviews.models import ApplyStatus, Campaign, Cycle
from tests.factories import login, make_world, messages_of

REFUSED = "Error 111 connecting to redis://:hunter2@127.0.0.1:6399/0. Connection refused."


class Boom(Exception):
    pass


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """What reached the broker: every task's `delay`, recorded instead of published."""
    calls: list[tuple[str, tuple, dict]] = []
    for task in (tasks.send_completion_notice, tasks.apply_revocation, tasks.send_invitations):

        def record(*args, _name=task.name, **kwargs):
            calls.append((_name, args, kwargs))

        monkeypatch.setattr(task, "delay", record)
    return calls


@pytest.fixture
def broker_down(monkeypatch) -> list[str]:
    """Every publish fails as it does with Redis stopped; the attempts are recorded."""
    attempts: list[str] = []
    for task in (tasks.send_completion_notice, tasks.apply_revocation, tasks.send_invitations):

        def refuse(*args, _name=task.name, **kwargs):
            attempts.append(_name)
            raise OperationalError(REFUSED)

        monkeypatch.setattr(task, "delay", refuse)
    return attempts


@pytest.fixture
def world(db):
    """A running cycle whose undecided items are revoked when it stops."""
    world = make_world(default_decision=Campaign.Default.REVOKE)
    Message.objects.all().delete()  # the invitations its cycle queued
    return world


def test_it_writes_the_notice_with_the_stopped_cycle_and_sends_it_only_after_commit(
    world, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.stop_cycle(world.cycle.pk, actor=world.admin)

    message = Message.objects.get()
    assert (message.task, message.args) == (tasks.send_completion_notice.name, [world.cycle.pk])
    assert sent == []
    for callback in callbacks:
        callback()
    assert sent == [(tasks.send_completion_notice.name, (world.cycle.pk,), {})]
    assert not Message.objects.exists()


def test_it_writes_nothing_when_the_state_change_rolls_back(world, sent):
    with pytest.raises(Boom), transaction.atomic():
        services.stop_cycle(world.cycle.pk, actor=world.admin)
        raise Boom

    assert not Message.objects.exists()
    assert Cycle.objects.get(pk=world.cycle.pk).status == Cycle.Status.ACTIVE


def test_a_refused_send_keeps_the_message_and_logs_a_warning_without_the_password(
    world, broker_down, caplog, django_capture_on_commit_callbacks
):
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        services.stop_cycle(world.cycle.pk, actor=world.admin)

    message = Message.objects.get()
    assert message.attempts == 1 and message.last_attempt_at is not None
    assert message.last_error.startswith("OperationalError: Error 111")
    assert "hunter2" not in message.last_error and "hunter2" not in caplog.text
    assert "kept for the drain" in caplog.text
    assert Cycle.objects.get(pk=world.cycle.pk).status == Cycle.Status.STOPPED


def test_an_outage_costs_a_request_one_attempt_not_one_per_removal(
    world, broker_down, django_capture_on_commit_callbacks
):
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    Message.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        services.request_apply(world.cycle.pk, actor=world.admin)

    queued = Message.objects.filter(task=tasks.apply_revocation.name)
    assert queued.count() == world.cycle.items.filter(apply_status=ApplyStatus.QUEUED).count() > 1
    assert broker_down == [tasks.apply_revocation.name]
    assert queued.filter(attempts=1).count() == 1


def test_the_drain_sends_what_is_left_oldest_first_and_each_once(world, sent):
    items = list(world.cycle.items.order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():  # its after-commit send never runs: the broker "was down"
        outbox.enqueue(tasks.send_completion_notice, world.cycle.pk)
        outbox.enqueue_many(tasks.apply_revocation, ([pk] for pk in items))

    assert outbox.drain() == 1 + len(items)
    assert outbox.drain() == 0
    assert sent == [(tasks.send_completion_notice.name, (world.cycle.pk,), {})] + [
        (tasks.apply_revocation.name, (pk,), {}) for pk in items
    ]
    assert not Message.objects.exists()


def test_the_drain_stops_at_a_broker_failure_and_keeps_everything_for_the_next(world, broker_down):
    with transaction.atomic():
        outbox.enqueue_many(tasks.apply_revocation, ([pk] for pk in range(1, 6)))

    assert outbox.drain() == 0
    assert broker_down == [tasks.apply_revocation.name]
    assert Message.objects.count() == 5


def test_the_tick_sends_what_waits_in_the_outbox(world, sent):
    with transaction.atomic():
        outbox.enqueue(tasks.send_completion_notice, world.cycle.pk)

    assert tasks.tick()["outbox_sent"] == 1
    assert sent == [(tasks.send_completion_notice.name, (world.cycle.pk,), {})]


@pytest.mark.django_db(transaction=True)
def test_two_drains_in_parallel_send_each_message_once(monkeypatch):
    published: list[int] = []

    def slow_publish(item_id):
        time.sleep(0.002)  # long enough for the two drains to overlap
        published.append(item_id)

    monkeypatch.setattr(tasks.apply_revocation, "delay", slow_publish)
    # Left behind by requests while the broker was down.
    Message.objects.bulk_create(
        Message(task=tasks.apply_revocation.name, args=[n]) for n in range(250)
    )
    start = threading.Barrier(2)
    counts: list[int] = []

    def drain() -> None:
        try:
            start.wait()
            counts.append(outbox.drain())
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(published) == list(range(250))
    assert sum(counts) == 250 and min(counts) > 0, counts
    assert not Message.objects.exists()


# Transactional: as in production, the request's own commit runs the send before the view
# decides what to say.
@pytest.mark.django_db(transaction=True)
def test_sync_now_with_the_broker_down_says_queued_and_not_started(world, settings, monkeypatch):
    from identities.tasks import sync_tenant

    def refuse(**kwargs):
        raise OperationalError(REFUSED)

    monkeypatch.setattr(sync_tenant, "delay", refuse)
    settings.AZURE_TENANT_ID = world.tenant.tenant_id
    response = login(world.admin).post(reverse("identities:sync_start"), follow=True)

    assert response.status_code == 200
    assert messages_of(response) == ["Sync queued", outbox.UNREACHABLE]
    assert Message.objects.get().task == sync_tenant.name
    assert "Sync in progress" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_apply_with_the_broker_down_says_the_removals_are_queued(world, broker_down):
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    admin = login(world.admin)
    response = admin.post(reverse("reviews:cycle_apply", args=[world.cycle.pk]), follow=True)

    queued = world.cycle.items.filter(apply_status=ApplyStatus.QUEUED).count()
    assert queued > 0
    assert messages_of(response) == [f"{queued} removals queued.", outbox.UNREACHABLE]


@pytest.mark.django_db(transaction=True)
def test_resuming_with_the_broker_down_says_the_start_waits_for_it(world, monkeypatch):
    def refuse(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(tasks.tick, "delay", refuse)
    services.set_campaign_paused(world.campaign.pk, True, actor=world.admin)
    resume = reverse("reviews:campaign_resume", args=[world.campaign.pk])
    response = login(world.admin).post(resume, follow=True)

    assert messages_of(response) == ["Campaign resumed.", outbox.UNREACHABLE]
