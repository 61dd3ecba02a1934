"""An emailed link's token never reaches the logs, whatever Django logs about its request."""

from __future__ import annotations

import io
import logging

import pytest

from config.logfilters import RedactLinkTokens, redact_link_tokens
from reviews import links
from tests.factories import login


@pytest.fixture
def console():
    """The configured console handler, writing into a buffer for the test."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactLinkTokens) for f in h.filters)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_a_refused_link_is_logged_without_its_token(world, console, settings):
    settings.SITE_URL = "https://spreview.example"
    link = links.make_link(world.reviewer_a, world.cycle)
    token = link.rstrip("/").rsplit("/", 1)[-1]

    response = login(world.reviewer_b).get(link.removeprefix(settings.SITE_URL))

    assert response.status_code == 403
    logged = console.getvalue()
    assert "Forbidden: /reviews/l/[token]/" in logged
    assert token not in logged


def test_only_the_token_is_replaced():
    assert (
        redact_link_tokens('"GET /reviews/l/abc.DEF-12:xyz/?next=1 HTTP/1.1" 410')
        == '"GET /reviews/l/[token]/?next=1 HTTP/1.1" 410'
    )
    assert redact_link_tokens("GET /reviews/cycles/3/queue/") == "GET /reviews/cycles/3/queue/"
