"""The reviewer's queue in Chromium, with JavaScript and without. With it, a decision replaces its
card and the progress line in place: the page is not reloaded (a value set on `window` survives)
and the scroll position stays. Without it, the same form posts and comes back to the same queue
with the decision shown; refusals say why in both modes and save nothing."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from reviews.models import Cycle, ItemReviewer, ReviewItem

from .test_admin_journey import sign_in
from .test_admin_pages import running_cycle  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reviewer(sim, running_cycle):  # noqa: F811
    """A demo person with at least two items in the running cycle, and those items."""
    cycle = Cycle.objects.get(pk=running_cycle)
    people = {p.user_id: p for p in sim.tenant.demo_people()}
    links = ItemReviewer.objects.filter(item__cycle=cycle, user__username__in=list(people))
    counts: dict[str, int] = {}
    for username in links.values_list("user__username", flat=True):
        counts[username] = counts.get(username, 0) + 1
    username = max(counts, key=counts.get)
    assert counts[username] >= 2, counts
    items = list(
        ReviewItem.objects.filter(cycle=cycle, reviewer_links__user__username=username).order_by(
            "principal_name", "role_name", "pk"
        )
    )
    return {"who": people[username], "cycle": cycle, "items": items}


def decision(item: ReviewItem) -> str:
    return ReviewItem.objects.get(pk=item.pk).decision


def test_with_javascript_a_decision_changes_the_card_without_a_reload(page, site, sim, reviewer):
    cycle, items = reviewer["cycle"], reviewer["items"]
    sign_in(page, site, sim, reviewer["who"])
    page.goto(site + reverse("reviews:queue", args=[cycle.pk]))
    page.evaluate("window.stillTheSamePage = true")
    progress = page.locator(".queue-progress").first.inner_text()

    # Approving needs a justification in this campaign: refused in place, nothing saved.
    card = page.locator(f"#item-{items[0].pk}")
    card.get_by_role("button", name="Approve").click()
    card.get_by_role("alert").wait_for()
    assert "justification" in card.get_by_role("alert").inner_text().lower()
    assert decision(items[0]) == "pending"

    card.get_by_label("Justification").fill("Deploys the payroll service every night.")
    card.get_by_role("button", name="Approve").click()
    card.get_by_text("Decision saved.").wait_for()
    assert decision(items[0]) == "approve"

    second = page.locator(f"#item-{items[1].pk}")
    second.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    second.get_by_role("button", name="Revoke").click()
    second.get_by_text("Decision saved.").wait_for()
    assert decision(items[1]) == "revoke"

    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded"
    assert page.evaluate("window.scrollY") == pytest.approx(scrolled, abs=60)
    assert page.locator(".queue-progress").first.inner_text() != progress
    assert re.search(r"\b2\b", page.locator(".queue-progress").first.inner_text())
    assert list(page.problems) == []


def test_without_javascript_the_same_form_posts_and_comes_back(chromium, site, sim, reviewer):
    cycle, items = reviewer["cycle"], reviewer["items"]
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, ignore_https_errors=True, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    # The simulated Entra sign-in page is a plain form: it works without JavaScript too.
    sign_in(page, site, sim, reviewer["who"])
    queue = site + reverse("reviews:queue", args=[cycle.pk])
    page.goto(queue)

    card = page.locator(f"#item-{items[0].pk}")
    card.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert "justification" in page.get_by_role("alert").first.inner_text().lower()
    assert decision(items[0]) == "pending"

    card = page.locator(f"#item-{items[0].pk}")
    card.get_by_label("Justification").fill("Still deploys the payroll service.")
    card.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(re.escape(queue)))
    assert decision(items[0]) == "approve"
    # Back on the pending list, which the decided item has left; the message names it.
    page.get_by_role("status").filter(has_text="Approve").first.wait_for()
    assert page.locator(f"#item-{items[0].pk}").count() == 0

    page.locator(f"#item-{items[1].pk}").get_by_role("button", name="Don't know").click()
    page.wait_for_url(re.compile(re.escape(queue)))
    assert decision(items[1]) == "dont_know"
    context.close()
