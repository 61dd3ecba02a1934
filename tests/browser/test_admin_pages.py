"""The pages an admin reads while a review runs, in Chromium: a service principal, the cycle, its
results, the audit log and the overview. A service principal whose display name is an HTML tag
shows it as text on each of them, and no page logs an error (a CSP violation would be one).

The campaign is created with the service (the form has its own journey): this test is about
reading. The beat `tick` is not running: the test process calls `start_due_cycles`, which is what
`tick` does every minute; the invitations it queues are sent by the real worker.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.people import users_for_entra
from identities import sync
from identities.models import Tenant
from reviews import services
from reviews.models import Campaign

from .screenshots import screenshot
from .test_admin_journey import person, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<img src=x onerror="alert(1)">Evil app'


@pytest.fixture
def running_cycle(site, sim):
    """A synced tenant, one principal with a hostile name, and a quarterly cycle in review."""
    hostile = sorted(sim.tenant.expected_privileged_sp_assignments())[0][0]
    sim.tenant.rename_principal(hostile, HOSTILE)
    run = sync.sync_configured_tenant(trigger="test")
    assert run.status == "succeeded", run.error_message
    tenant = Tenant.objects.get()
    # Owners review their own principals; a plain demo person reviews the owner-less ones.
    who = next(p for p in sim.tenant.demo_people() if not p.roles)
    entra = {
        "id": who.user_id,
        "displayName": who.display_name,
        "userPrincipalName": who.upn,
        "mail": who.upn,
    }
    fallback = get_user_model().objects.get(pk=users_for_entra(tenant, [entra])[who.user_id])
    services.create_campaign(
        Campaign(
            tenant=tenant,
            name="Quarterly review of privileged service principals",
            description="Keep what still runs; revoke what nobody can explain.",
            start_at=timezone.now(),
            frequency="quarterly",
            duration_days=21,
            reminder_days=[7, 1],
            reviewer_mode="owners",
        ),
        roles=[],
        reviewers=[fallback],
        actor=None,
    )
    [cycle_id] = services.start_due_cycles()
    return cycle_id


def shows_hostile_name_as_text(page) -> None:
    page.get_by_text(HOSTILE).first.wait_for()
    assert page.locator("img[src=x]").count() == 0


def test_an_admin_reads_principal_cycle_results_and_audit_log(page, site, sim, running_cycle):
    page.set_default_timeout(15_000)
    sign_in(page, site, sim, person(sim, "Admin"))

    # The principal, reached from the inventory as a person would.
    page.goto(site + reverse("identities:inventory") + "?q=Evil")
    page.get_by_role("link", name=HOSTILE).first.click()
    page.get_by_role("heading", name=HOSTILE).wait_for()
    shows_hostile_name_as_text(page)
    screenshot(page, "principal")

    page.goto(site + reverse("reviews:campaigns"))
    page.get_by_role("link", name=re.compile("Quarterly review")).first.click()
    page.get_by_role("link", name="#1").click()
    page.get_by_role("heading", name=re.compile("Quarterly review")).wait_for()
    assert page.get_by_text("In review").count() >= 1
    screenshot(page, "cycle")

    page.goto(site + reverse("reviews:results", args=[running_cycle]))
    shows_hostile_name_as_text(page)

    page.goto(site + reverse("reviews:audit"))
    page.get_by_text("Campaign Quarterly review").first.wait_for()
    screenshot(page, "audit")

    try:
        overview = reverse("overview")
    except NoReverseMatch:
        overview = None  # the overview page is not there yet: nothing to photograph
    if overview:
        page.goto(site + overview)
        screenshot(page, "overview")

    assert list(page.problems) == []
