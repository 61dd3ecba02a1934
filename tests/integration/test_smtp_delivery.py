"""An invitation delivered through a real SMTP server on loopback, read back as the mail
program would: subject, recipient, both parts, and the signed link in each."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from reviews import emails, links
from tests.factories import World, make_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SITE = "https://spreview.contoso.example"


class Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # the name aiosmtpd calls
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    yield inbox
    controller.stop()


def test_an_invitation_arrives_through_smtp_with_both_parts_and_the_link(
    smtp_server, settings, world
):
    settings.SITE_URL = SITE
    settings.DEFAULT_FROM_EMAIL = "spreview <spreview@contoso.example>"

    assert emails.send_invitations(world.cycle.pk).sent == 2

    by_recipient = {tuple(e.rcpt_tos): e for e in smtp_server.envelopes}
    assert set(by_recipient) == {
        ("anna-reviewer@contoso.example",),
        ("ben-reviewer@contoso.example",),
    }
    envelope = by_recipient[("anna-reviewer@contoso.example",)]
    assert envelope.mail_from == "spreview@contoso.example"
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["To"] == "anna-reviewer@contoso.example"
    assert message["Subject"] == (
        "Review requested: Quarterly privileged SP review (2 privileged assignments)"
    )
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()

    [link] = [word for word in text.split() if word.startswith(f"{SITE}/reviews/l/")]
    token = link.removeprefix(f"{SITE}/reviews/l/").removesuffix("/")
    assert f"Start here: {link}" in text
    assert f'href="{link}"' in html
    assert links.read_link(token) == (world.reviewer_a.pk, world.cycle.pk)
    assert "review 2 privileged assignments (directory roles and application" in text
    assert "Payroll connector: Global Administrator" in html
