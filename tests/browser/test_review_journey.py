"""A review in Chromium: the reviewer arrives from the invitation email while signed out, signs
in through the simulated Entra page, revokes one assignment and approves the rest in bulk; the
admin stops the review and applies it; Entra ID (the simulator) no longer holds the revoked
assignment, and the results page and CSV say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.people import users_for_entra
from identities import sync
from identities.models import ServicePrincipal, Tenant
from reviews import services
from reviews.models import Campaign, ReviewItem
from tests.integration.polling import wait_for

from .screenshots import screenshot
from .test_admin_journey import person, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(live_server, tmp_path):
    """The worker sends the invitations: to files we can read, with links to the live server."""
    return {"SITE_URL": live_server.url, "EMAIL_URL": f"filemail:///{tmp_path}/mail"}


@pytest.fixture
def review(site, sim, tmp_path):
    """A synced tenant and a running cycle in which one plain person reviews everything."""
    run = sync.sync_configured_tenant(trigger="test")
    assert run.status == "succeeded", run.error_message
    # Every principal active and signed in: every recommendation is "approve", so accepting
    # them all approves the rest.
    ServicePrincipal.objects.update(
        account_enabled=True, sign_in_known=True, last_sign_in_at=timezone.now(), credentials=[]
    )
    who = next(p for p in sim.tenant.demo_people() if not p.roles)
    tenant = Tenant.objects.get()
    ids = users_for_entra(
        tenant,
        [{"id": who.user_id, "displayName": who.display_name,
          "userPrincipalName": who.upn, "mail": who.upn}],
    )  # fmt: skip
    reviewer = get_user_model().objects.get(pk=ids[who.user_id])
    campaign = services.create_campaign(
        Campaign(
            tenant=tenant,
            name="Quarterly privileged SP review",
            start_at=timezone.now(),
            frequency="quarterly",
            reviewer_mode="named",
            justification="on_approve",
        ),
        roles=[],
        reviewers=[reviewer],
        actor=None,
    )
    cycle = services.start_cycle(campaign.pk)
    mail_dir = Path(tmp_path) / "mail"

    def invitation_link():
        """the invitation email written by the worker"""
        for path in mail_dir.glob("*.log") if mail_dir.exists() else []:
            found = re.search(r"http://[^\s\"<>]+/reviews/l/[^\s\"<>]+/", path.read_text())
            if found:
                return found.group(0)
        return None

    return {"cycle": cycle, "who": who, "link": wait_for(invitation_link, timeout=60)}


def test_a_reviewer_from_the_email_and_an_admin_who_applies(chromium, page, site, sim, review):
    cycle, who = review["cycle"], review["who"]
    items = list(cycle.items.order_by("principal_name", "role_name", "pk"))
    revoked = items[0]

    # The reviewer, signed out, opens the link: sign-in, then straight to their queue.
    page.goto(review["link"])
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.locator(f'button[name="user_id"][value="{who.user_id}"]').click()
    page.wait_for_url(re.compile(rf"/reviews/cycles/{cycle.pk}/queue/"))
    screenshot(page, "queue")

    card = page.locator(f"#item-{revoked.pk}")
    card.get_by_label("Justification").fill("Nightly job retired in March; nobody uses it.")
    card.get_by_role("button", name="Revoke").click()
    card.get_by_text("Decision saved.").wait_for()
    page.get_by_role("button", name=re.compile("Accept all recommendations")).click()
    page.get_by_text(re.compile(r"recommendation", re.I)).first.wait_for()
    decisions = dict(ReviewItem.objects.filter(cycle=cycle).values_list("pk", "decision"))
    assert decisions[revoked.pk] == "revoke"
    assert {d for pk, d in decisions.items() if pk != revoked.pk} == {"approve"}
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "queue-phone")
    reviewer_problems = list(page.problems)

    # The admin, in another browser, stops the review and applies it.
    admin = chromium.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
    admin_page = admin.new_page()
    problems: list[str] = []
    admin_page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    admin_page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(admin_page, site, sim, person(sim, "Admin"))
    admin_page.goto(f"{site}/reviews/cycles/{cycle.pk}/")
    admin_page.get_by_role("button", name="Stop the review now").click()
    admin_page.get_by_role("button", name=re.compile(r"Apply results \(1 removal\)")).click()

    def removed():
        """the worker to remove the revoked assignment through Graph"""
        return ReviewItem.objects.get(pk=revoked.pk).apply_status == "applied"

    wait_for(removed, timeout=60)
    triple = (
        revoked.principal_object_id,
        revoked.role_object_id,
        revoked.directory_scope_id,
        revoked.kind,
    )
    assert triple not in sim.tenant.expected_privileged_sp_assignments()
    admin_page.goto(f"{site}/reviews/cycles/{cycle.pk}/results/")
    row = admin_page.locator("tr", has_text="Nightly job retired in March")
    assert "Removed" in row.inner_text()
    screenshot(admin_page, "results")
    csv = admin_page.request.get(f"{site}/reviews/cycles/{cycle.pk}/results.csv").text()
    line = next(x for x in csv.splitlines() if "Nightly job retired in March" in x)
    assert line.endswith(",Removed")
    admin.close()

    assert reviewer_problems == [] and problems == []
