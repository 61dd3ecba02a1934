"""Chromium driven by Playwright against a live server, a real Celery worker and the simulator.

Debian's Chromium (`/usr/bin/chromium`, installed by .ci/run) is used: Playwright's own browser
download is not available on these machines.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would then refuse the test's
# own database calls as "async-unsafe". Tests only: the live server runs in its own thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.fail("browser tests need Debian's chromium: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Problems(list):
    """Console errors, page errors and dialogs seen on any page: each is a failure."""


@pytest.fixture
def page(chromium):
    # The simulator's authority serves HTTPS signed by its own test CA, which this throwaway
    # browser profile does not know; the app itself is plain http on 127.0.0.1.
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, ignore_https_errors=True
    )
    page = context.new_page()
    problems = Problems()
    page.on(
        "console",
        lambda m: (
            problems.append(f"console at {m.location.get('url')}: {m.text}")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def on_dialog(dialog):
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.problems = problems
    yield page
    context.close()


@pytest.fixture
def site(live_server, graph_settings, settings, start_worker):
    """The live server as SITE_URL (sign-in comes back to it) and one real worker."""
    settings.SITE_URL = live_server.url
    settings.TENANT_DISPLAY_NAME = "Contoso (simulated)"  # as the demo names its tenant
    start_worker()
    return live_server.url
