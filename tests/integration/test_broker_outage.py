"""Redis stopped while an admin stops a review, applies it and asks for a sync: every page
answers (no 500) and says the work is queued; once Redis is back, the drain and a real worker do
all of it, once: the removals reach the simulator, the completion notice is emailed, the sync
runs. The Redis here is the test's own, on a free port: the machine's is never touched."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.test import Client
from django.urls import reverse

from config.celery import app as celery_app
from identities.models import SyncRun
from outbox import services as outbox
from outbox.models import Message
from reviews.models import ApplyStatus, Cycle, EmailDelivery
from tests.factories import make_admin, messages_of
from tests.reviews.apply_helpers import open_cycle, removal_requests, reviewer, sync_tenant

from .polling import wait_for
from .test_smtp_delivery import Inbox, free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ADMIN_EMAIL = "ada@contoso.example"  # make_admin()'s


class PrivateRedis:
    """A redis-server of the test's own, stopped and started again on the same port; its
    append-only file keeps what it held across the restart, as a production Redis would."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.workdir.mkdir(exist_ok=True)
        options = f"--port {self.port} --bind 127.0.0.1 --appendonly yes --dir {self.workdir}"
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", *options.split(), "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_for(lambda: self._answers(client), timeout=10, interval=0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis writes its append-only file and exits
            self.process.wait(timeout=10)
        self.process = None

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        """the private redis-server to answer PING"""
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False


def _use_broker(url: str) -> None:
    """Point this process's Celery app at `url`. Its pools come from kombu's registry, one per
    broker URL and shared by the whole process: dropped here, never closed."""
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def private_redis(tmp_path, settings):
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    previous = celery_app.conf.broker_url
    settings.CELERY_BROKER_URL = server.url
    _use_broker(server.url)
    yield server
    server.stop()
    _use_broker(previous)


@pytest.fixture
def broker(private_redis):
    """tests/workers.py's workers take their broker from this fixture: here, the private one."""
    return private_redis.url


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def worker_env(inbox) -> dict[str, str]:
    return {"EMAIL_URL": f"smtp://127.0.0.1:{inbox.port}", "GRAPH_WRITE_ENABLED": "true"}


def _post(client: Client, url: str):
    """POST as the admin's browser does; the page must answer quickly however long the outage."""
    started = time.monotonic()
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert time.monotonic() - started < 10
    return response


def _emails_to_admin(inbox: Inbox) -> list[list[str]]:
    """The admin reviews nothing here: what reaches them is the completion notice."""
    return [envelope.rcpt_tos for envelope in inbox.envelopes if ADMIN_EMAIL in envelope.rcpt_tos]


def test_stop_apply_and_sync_now_during_an_outage_are_done_once_when_redis_is_back(
    private_redis, graph_settings, sim, inbox, start_worker
):
    sync_tenant()
    cycle = open_cycle(reviewer())  # its undecided items are revoked when it stops
    admin = make_admin()
    client = Client()
    client.force_login(admin)

    private_redis.stop()

    stopped = _post(client, reverse("reviews:cycle_stop", args=[cycle.pk]))
    assert messages_of(stopped) == [
        "Review stopped: undecided items took the default.",
        outbox.UNREACHABLE,
    ]
    assert Cycle.objects.get(pk=cycle.pk).status == Cycle.Status.STOPPED

    applied = _post(client, reverse("reviews:cycle_apply", args=[cycle.pk]))
    removals = cycle.items.filter(apply_status=ApplyStatus.QUEUED).count()
    assert removals > 1
    assert messages_of(applied) == [f"{removals} removals queued.", outbox.UNREACHABLE]

    synced = _post(client, reverse("identities:sync_start"))
    assert messages_of(synced) == ["Sync queued", outbox.UNREACHABLE]
    assert "Sync in progress" not in synced.content.decode()

    waiting = Message.objects.values_list("task", flat=True)
    assert sorted(set(waiting)) == [
        "identities.tasks.sync_tenant",
        "reviews.tasks.apply_revocation",
        "reviews.tasks.send_completion_notice",
    ]
    assert len(waiting) == removals + 2

    private_redis.start()
    assert outbox.drain() == removals + 2
    assert outbox.drain() == 0
    start_worker()

    def all_done():
        """the removals applied, the completion notice sent and the sync finished"""
        cycle_done = Cycle.objects.get(pk=cycle.pk).status == Cycle.Status.APPLIED
        notice = EmailDelivery.objects.filter(
            cycle=cycle, kind=EmailDelivery.Kind.COMPLETION, sent_at__isnull=False
        ).exists()
        sync = SyncRun.objects.filter(trigger="manual", finished_at__isnull=False).exists()
        return cycle_done and notice and sync and _emails_to_admin(inbox)

    wait_for(all_done, timeout=120)

    statuses = set(cycle.items.filter(outcome="revoke").values_list("apply_status", flat=True))
    assert statuses == {ApplyStatus.APPLIED}
    assert len(removal_requests(sim, reached_tenant=True)) == removals
    assert _emails_to_admin(inbox) == [[ADMIN_EMAIL]]
    manual = SyncRun.objects.filter(trigger="manual")
    assert [(run.status, run.requested_by_id) for run in manual] == [
        (SyncRun.Status.SUCCEEDED, admin.pk)
    ]
    assert not Message.objects.exists()
