"""A mail server that refuses a recipient for a while, then accepts: the real worker's
invitation task sends the others at once and retries the refused one until it goes through,
one message per reviewer in the end."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from reviews.models import EmailDelivery
from reviews.tasks import send_invitations
from tests.factories import make_world

from .polling import wait_for
from .test_smtp_delivery import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REFUSED = "ben-reviewer@contoso.example"


class BusyInbox:
    """Answers 451 (try again later) for one recipient the first `refusals` times."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.refused = 0
        self.delivered: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address == REFUSED and self.refused < self.refusals:
            self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.delivered.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox():
    handler = BusyInbox(refusals=2)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def worker_env(inbox) -> dict[str, str]:
    # Waits of 0.2 s, 0.4 s … instead of 1 min, 2 min …: the same code path, test-sized.
    return {
        "EMAIL_URL": f"smtp://127.0.0.1:{inbox.port}",
        "EMAIL_RETRY_BASE_SECONDS": "0.2",
        "SITE_URL": "https://spreview.contoso.example",
    }


def test_a_refused_invitation_is_retried_by_the_worker_until_delivered(start_worker, inbox):
    world = make_world()  # its cycle's invitations were queued on commit
    send_invitations.delay(world.cycle.pk)  # and a duplicate delivery of the task
    start_worker()

    def delivered():
        """both reviewers' invitations to reach the mail server"""
        return (
            sorted(inbox.delivered)
            == [
                "anna-reviewer@contoso.example",
                REFUSED,
            ]
            and not EmailDelivery.objects.filter(sent_at__isnull=True).exists()
        )

    wait_for(delivered, timeout=60)
    assert inbox.refused == 2
    sent = EmailDelivery.objects.filter(cycle=world.cycle, kind=EmailDelivery.Kind.INVITATION)
    assert sent.count() == 2 and all(d.sent_at for d in sent)
